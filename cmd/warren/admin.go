package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warrenhq/warren/controlplane"
	"github.com/warrenhq/warren/controlplane/api"
)

// command is one admin subcommand: its flags are registered on fs, it
// receives the positional arguments and the client.
type command struct {
	args  string // positional arguments, for usage
	nargs int
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, c *api.Client, pos []string) (any, func(w io.Writer), error)
}

func admin(ctx context.Context, group string, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	name, rest := group+" "+args[0], args[1:]
	cmd, ok := commands()[name]
	if !ok && len(rest) > 0 { // three-word commands: user token create
		name, rest = name+" "+rest[0], rest[1:]
		cmd, ok = commands()[name]
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "warren: unknown command %q\n\n%s", name, usage)
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("WARREN_DATA_DIR", controlplane.DefaultDataDir), "data directory of the running engine")
	asJSON := fs.Bool("json", false, "print JSON")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: warren %s %s [flags]\n", name, cmd.args)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return 2
	}
	if len(pos) != cmd.nargs {
		fs.Usage()
		return 2
	}
	out, human, err := cmd.run(ctx, api.NewClient(*dataDir), pos)
	if err != nil {
		return fail(err)
	}
	if *asJSON && out != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	if human != nil {
		human(os.Stdout)
	}
	return 0
}

// parseInterspersed lets flags follow positional arguments
// ("service add web1 --port 22").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func fail(err error) int {
	var apiErr *api.Error
	if errors.As(err, &apiErr) {
		fmt.Fprintf(os.Stderr, "warren: %s (%s)\n", apiErr.Message, apiErr.Code)
		if h := errorHint(apiErr.Code); h != "" {
			fmt.Fprintf(os.Stderr, "  %s\n", h)
		}
	} else {
		fmt.Fprintf(os.Stderr, "warren: %v\n", err)
	}
	return 1
}

func commands() map[string]command {
	var (
		ttl    string
		svc    api.Service
		listen string
		utok   api.UserTokenRequest
	)
	return map[string]command{
		"token create": {
			flags: func(fs *flag.FlagSet) { fs.StringVar(&ttl, "ttl", "15m", "token lifetime (max 24h)") },
			run: func(ctx context.Context, c *api.Client, _ []string) (any, func(io.Writer), error) {
				t, err := c.CreateToken(ctx, ttl)
				return t, func(w io.Writer) {
					fmt.Fprintf(w, "Enrollment token (single use, expires %s):\n  %s\n\nOn the device, run:\n  %s\n",
						t.ExpiresAt.Local().Format(time.RFC3339), t.Token, t.Command)
				}, err
			},
		},
		"user token create": {
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&utok.Org, "org", "", "organization id or slug (required)")
				fs.StringVar(&utok.User, "user", "", "the member's email or user id (required)")
				fs.StringVar(&utok.TTL, "ttl", "720h", `token lifetime; "0" = until revoked`)
				fs.StringVar(&utok.Name, "name", "cli", "token name, as the console lists it")
			},
			run: func(ctx context.Context, c *api.Client, _ []string) (any, func(io.Writer), error) {
				if utok.Org == "" || utok.User == "" {
					return nil, nil, errors.New("--org and --user are required")
				}
				if utok.TTL == "0" {
					utok.TTL = ""
				}
				t, err := c.CreateUserToken(ctx, utok)
				return t, func(w io.Writer) {
					exp := "never expires"
					if t.ExpiresAt != nil {
						exp = "expires " + t.ExpiresAt.Local().Format(time.RFC3339)
					}
					fmt.Fprintf(w, "API token for %s in %s (id %s, %s; shown once):\n  %s\n\nUse it with:\n  warren login --server URL --token %s\n",
						utok.User, utok.Org, t.ID, exp, t.Token, t.Token)
				}, err
			},
		},
		"user list": {
			run: func(ctx context.Context, c *api.Client, _ []string) (any, func(io.Writer), error) {
				us, err := c.ListUsers(ctx)
				return us, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tPLATFORM ADMIN\tDISABLED\tISSUER")
					for _, u := range us {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\n", u.ID, u.Email, dash(u.DisplayName), u.PlatformAdmin, u.Disabled, u.Issuer)
					}
					tw.Flush()
				}, err
			},
		},
		"user disable": {
			args: "EMAIL|USER_ID", nargs: 1,
			run: func(ctx context.Context, c *api.Client, pos []string) (any, func(io.Writer), error) {
				u, err := c.SetUserDisabled(ctx, pos[0], true)
				return u, func(w io.Writer) { fmt.Fprintf(w, "user %s disabled and signed out everywhere\n", u.Email) }, err
			},
		},
		"user enable": {
			args: "EMAIL|USER_ID", nargs: 1,
			run: func(ctx context.Context, c *api.Client, pos []string) (any, func(io.Writer), error) {
				u, err := c.SetUserDisabled(ctx, pos[0], false)
				return u, func(w io.Writer) { fmt.Fprintf(w, "user %s enabled\n", u.Email) }, err
			},
		},
		"device list": {
			run: func(ctx context.Context, c *api.Client, _ []string) (any, func(io.Writer), error) {
				ds, err := c.ListDevices(ctx)
				return ds, func(w io.Writer) { printDevices(w, ds) }, err
			},
		},
		"service add": {
			args: "DEVICE", nargs: 1,
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&svc.Name, "name", "", "service name (required)")
				fs.StringVar(&svc.Protocol, "protocol", "tcp", "tcp, ssh, rdp, vnc, http or host")
				fs.IntVar(&svc.Port, "port", 0, "port on the device's overlay address (required)")
				fs.StringVar(&svc.Target, "target", "", "where the agent forwards, host:port (default 127.0.0.1:<port>)")
				fs.BoolVar(&svc.Record, "record", false, "record every terminal session to the service (asciicast)")
			},
			run: func(ctx context.Context, c *api.Client, pos []string) (any, func(io.Writer), error) {
				s, err := c.AddService(ctx, pos[0], svc)
				return s, func(w io.Writer) {
					rec := ""
					if s.Record {
						rec = " (sessions recorded)"
					}
					fmt.Fprintf(w, "service %s added: %s port %d -> %s%s\n", s.Name, s.Protocol, s.Port, s.Target, rec)
				}, err
			},
		},
		"service list": {
			args: "DEVICE", nargs: 1,
			run: func(ctx context.Context, c *api.Client, pos []string) (any, func(io.Writer), error) {
				ss, err := c.ListServices(ctx, pos[0])
				return ss, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tPROTOCOL\tPORT\tTARGET")
					for _, s := range ss {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Name, s.Protocol, s.Port, s.Target)
					}
					tw.Flush()
				}, err
			},
		},
		"service remove": {
			args: "DEVICE NAME", nargs: 2,
			run: func(ctx context.Context, c *api.Client, pos []string) (any, func(io.Writer), error) {
				err := c.RemoveService(ctx, pos[0], pos[1])
				return nil, func(w io.Writer) { fmt.Fprintf(w, "service %s removed\n", pos[1]) }, err
			},
		},
		"publish add": {
			args: "DEVICE/SERVICE", nargs: 1,
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&listen, "listen", "", "address the engine listens on, e.g. 127.0.0.1:2222 (required)")
			},
			run: func(ctx context.Context, c *api.Client, pos []string) (any, func(io.Writer), error) {
				dev, name, ok := strings.Cut(pos[0], "/")
				if !ok || dev == "" || name == "" {
					return nil, nil, errors.New("the argument must be DEVICE/SERVICE, e.g. web1/ssh")
				}
				p, err := c.AddPublish(ctx, api.PublishRequest{Device: dev, Service: name, Listen: listen})
				return p, func(w io.Writer) {
					fmt.Fprintf(w, "published %s/%s on %s (id %s)\n", p.Device, p.Service, p.ListenAddr, p.ID)
				}, err
			},
		},
		"publish list": {
			run: func(ctx context.Context, c *api.Client, _ []string) (any, func(io.Writer), error) {
				ps, err := c.ListPublishes(ctx)
				return ps, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tLISTEN\tDEVICE\tSERVICE\tPORT\tSTATE")
					for _, p := range ps {
						state := "open on " + p.ListenAddr
						if p.ListenAddr == "" {
							state = "not open (see engine log)"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", p.ID, p.Listen, p.Device, p.Service, p.Port, state)
					}
					tw.Flush()
				}, err
			},
		},
		"openfga sync": {
			run: func(ctx context.Context, c *api.Client, _ []string) (any, func(io.Writer), error) {
				r, err := c.SyncOpenFGA(ctx)
				return r, func(w io.Writer) {
					fmt.Fprintf(w, "openfga in step with the database: %d tuples added, %d removed\n", r.Added, r.Removed)
				}, err
			},
		},
		"publish remove": {
			args: "ID|LISTEN", nargs: 1,
			run: func(ctx context.Context, c *api.Client, pos []string) (any, func(io.Writer), error) {
				err := c.RemovePublish(ctx, pos[0])
				return nil, func(w io.Writer) { fmt.Fprintf(w, "publish %s removed\n", pos[0]) }, err
			},
		},
	}
}

func printDevices(w io.Writer, ds []api.Device) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tOVERLAY IP\tONLINE\tLAST HANDSHAKE\tENDPOINT\tVERSION")
	for _, d := range ds {
		hs := "never"
		if d.LastHandshake != nil {
			hs = time.Since(*d.LastHandshake).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", d.ID, d.Name, d.OverlayIP, d.Online, hs, dash(d.Endpoint), dash(d.AgentVersion))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
