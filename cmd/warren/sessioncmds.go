package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warrenhq/warren/controlplane/api"
	"github.com/warrenhq/warren/controlplane/api/attach"
	"github.com/warrenhq/warren/protocols/stream"
)

// sessionUsage is the session part of the usage text.
const sessionUsage = `  warren session open DEVICE/SERVICE [--attach] [--json]   open a terminal session (SSH)
  warren session list [--all] [--device D] [--state live|ended|all] [--json]
  warren session show ID [--json]
  warren session attach ID [--observe] [--takeover] [--escape C|none]
                                    your terminal, attached; Enter ~ . detaches (the
                                    session keeps running), ~? lists the escapes
  warren session terminate ID
  warren session share ID --user U|--group G     let them watch (read-only)
  warren session unshare ID --user U|--group G
  warren session recordings [--json]             recorded sessions
  warren session recording ID [-o FILE]          download (asciicast v2)
`

func sessionCommands(cmds map[string]clientCommand) {
	sessionOpenCommand(cmds)
	sessionListCommands(cmds)
	sessionAttachCommand(cmds)
	sessionManageCommands(cmds)
	sessionRecordingCommands(cmds)
}

func sessionOpenCommand(cmds map[string]clientCommand) {
	var attachNow bool
	var escape string
	cmds["session open"] = clientCommand{
		args: "DEVICE/SERVICE", nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&attachNow, "attach", false, "attach this terminal at once (the id goes to stderr; --json is ignored)")
			fs.StringVar(&escape, "escape", "~", `escape character when attaching, or "none"`)
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (any, func(io.Writer), error) {
			dev, svc, ok := strings.Cut(pos[0], "/")
			if !ok || dev == "" || svc == "" {
				return nil, nil, errors.New("the argument must be DEVICE/SERVICE, e.g. web1/ssh")
			}
			req := api.OpenSessionRequest{Device: dev, Service: svc}
			if cols, rows, ok := attach.TerminalSize(os.Stdout, os.Stdin); ok {
				req.Cols, req.Rows = cols, rows
			}
			o, err := c.OpenSession(ctx, org, req)
			if err != nil {
				return nil, nil, err
			}
			if !attachNow {
				return o.Session, func(w io.Writer) {
					fmt.Fprintf(w, "session %s opened on %s/%s (%s)\nattach with: warren session attach %s\n",
						o.Session.ID, o.Session.DeviceName, o.Session.Service, o.Session.State, o.Session.ID)
				}, nil
			}
			fmt.Fprintf(os.Stderr, "[warren] session %s opened on %s/%s\n", o.Session.ID, o.Session.DeviceName, o.Session.Service)
			d := &attach.Dialer{Client: c, Org: org, Session: o.Session.ID}
			d.UseTicket(o.Ticket)
			return nil, nil, runAttach(ctx, d, attachOptions{escape: escape})
		}),
	}
}

func sessionListCommands(cmds map[string]clientCommand) {
	var all bool
	var device, state string
	cmds["session list"] = clientCommand{
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&all, "all", false, "every session of the organization (organization admins), not only yours")
			fs.StringVar(&device, "device", "", "only the sessions on this device (id or name)")
			fs.StringVar(&state, "state", "live", "live, ended or all")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.Session, func(io.Writer), error) {
			if state != "live" && state != "ended" && state != "all" {
				return nil, nil, fmt.Errorf("--state must be live, ended or all, not %q", state)
			}
			var ss []api.Session
			var err error
			if device != "" {
				ss, err = c.ListDeviceSessions(ctx, org, device, state)
			} else {
				scope := "mine"
				if all {
					scope = "all"
				}
				ss, err = c.ListSessions(ctx, org, scope, state)
			}
			return ss, func(w io.Writer) { printSessions(w, ss, time.Now()) }, err
		}),
	}
	cmds["session show"] = clientCommand{
		args: "ID", nargs: 1,
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (api.Session, func(io.Writer), error) {
			s, err := c.GetSession(ctx, org, pos[0])
			return s, func(w io.Writer) { printSessions(w, []api.Session{s}, time.Now()) }, err
		}),
	}
}

// printSessions prints the session table.
func printSessions(w io.Writer, ss []api.Session, now time.Time) {
	table("ID\tDEVICE/SERVICE\tSTATE\tSTARTED\tLAST ACTIVITY\tVIEWERS\tOWNER", func(w io.Writer) {
		for _, s := range ss {
			st := s.State
			if s.EndReason != "" {
				st += " (" + s.EndReason + ")"
			}
			if s.Recorded {
				st += ", recorded"
			}
			fmt.Fprintf(w, "%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, firstNonEmpty(s.DeviceName, s.DeviceID), s.Service, st,
				s.StartedAt.Local().Format("2006-01-02 15:04:05"), ago(s.LastActivity, now), viewers(s.Viewers), s.OwnerID)
		}
	})(w)
}

// ago is a duration in the past, to the second ("-" for the zero time).
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(now.Sub(t), 0).Round(time.Second)
	return d.String() + " ago"
}

// viewers summarises who is attached: "0", "1 (driver)", "3 (driver + 2)".
func viewers(vs []api.SessionViewer) string {
	driver := false
	for _, v := range vs {
		driver = driver || v.Role == stream.RoleDriver
	}
	switch {
	case len(vs) == 0:
		return "0"
	case !driver:
		return strconv.Itoa(len(vs)) + " (observers)"
	case len(vs) == 1:
		return "1 (driver)"
	}
	return fmt.Sprintf("%d (driver + %d)", len(vs), len(vs)-1)
}

func sessionAttachCommand(cmds map[string]clientCommand) {
	var opts attachOptions
	cmds["session attach"] = clientCommand{
		args: "ID", nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&opts.observe, "observe", false, "attach read-only, as an observer")
			fs.BoolVar(&opts.takeover, "takeover", false, "take the driver role from whoever holds it")
			fs.StringVar(&opts.escape, "escape", "~", `escape character (typed after Enter: "~." detaches), or "none"`)
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (any, func(io.Writer), error) {
			if opts.observe && opts.takeover {
				return nil, nil, errors.New("--observe and --takeover exclude each other")
			}
			role := stream.RoleDriver
			if opts.observe {
				role = stream.RoleObserver
			}
			d := &attach.Dialer{Client: c, Org: org, Session: pos[0], Role: role}
			return nil, nil, runAttach(ctx, d, opts)
		}),
	}
}

// attachOptions are the flags of an attachment.
type attachOptions struct {
	observe, takeover bool
	escape            string
}

// runAttach attaches this process's terminal (or pipes) to the session
// until the user detaches or the session ends; both are a success.
func runAttach(ctx context.Context, d *attach.Dialer, opts attachOptions) error {
	esc, noEscape, err := parseEscape(opts.escape)
	if err != nil {
		return err
	}
	_, err = attach.Run(ctx, attach.Config{
		Dial: d.Dial, Session: d.Session, Takeover: opts.takeover, Observe: opts.observe,
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Escape: esc, NoEscape: noEscape,
	})
	return err
}

// parseEscape reads --escape: one ASCII character, or "none".
func parseEscape(s string) (char byte, none bool, err error) {
	switch {
	case s == "none":
		return 0, true, nil
	case len(s) == 1 && s[0] > ' ' && s[0] < 0x7f:
		return s[0], false, nil
	case len(s) == 2 && s[0] == '^' && s[1] >= '@' && s[1] <= '_': // ^] is 0x1d
		return s[1] - '@', false, nil
	}
	return 0, false, fmt.Errorf(`--escape must be one printable character, ^X for a control character, or "none"; not %q`, s)
}

// sessionDone is what the session commands without a resource of their own
// print with --json.
type sessionDone struct {
	ID    string `json:"id"`
	Done  string `json:"done"` // terminated, unshared, downloaded
	File  string `json:"file,omitempty"`
	Bytes int64  `json:"bytes,omitempty"`
}

func sessionManageCommands(cmds map[string]clientCommand) {
	cmds["session terminate"] = clientCommand{
		args: "ID", nargs: 1,
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (any, func(io.Writer), error) {
			err := c.TerminateSession(ctx, org, pos[0])
			return sessionDone{ID: pos[0], Done: "terminated"}, func(w io.Writer) { fmt.Fprintf(w, "session %s terminated\n", pos[0]) }, err
		}),
	}
	var user, group string
	subject := func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "id of a user of the organization")
		fs.StringVar(&group, "group", "", "id of a group of the organization")
	}
	oneSubject := func() error {
		if (user == "") == (group == "") {
			return errors.New("pass exactly one of --user and --group")
		}
		return nil
	}
	cmds["session share"] = clientCommand{
		args: "ID", nargs: 1, flags: subject,
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (api.SessionObserver, func(io.Writer), error) {
			if err := oneSubject(); err != nil {
				return api.SessionObserver{}, nil, err
			}
			o, err := c.ShareSession(ctx, org, pos[0], user, group)
			return o, func(w io.Writer) {
				fmt.Fprintf(w, "session %s shared with %s:%s (observer)\n", pos[0], o.SubjectType, o.SubjectID)
			}, err
		}),
	}
	cmds["session unshare"] = clientCommand{
		args: "ID", nargs: 1, flags: subject,
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (any, func(io.Writer), error) {
			if err := oneSubject(); err != nil {
				return nil, nil, err
			}
			err := c.UnshareSession(ctx, org, pos[0], firstNonEmpty(user, group))
			return sessionDone{ID: pos[0], Done: "unshared"}, func(w io.Writer) {
				fmt.Fprintf(w, "session %s no longer shared with %s\n", pos[0], firstNonEmpty(user, group))
			}, err
		}),
	}
}

func sessionRecordingCommands(cmds map[string]clientCommand) {
	cmds["session recordings"] = clientCommand{
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, _ []string) ([]api.Session, func(io.Writer), error) {
			ss, err := c.ListRecordings(ctx, org)
			return ss, func(w io.Writer) { printSessions(w, ss, time.Now()) }, err
		}),
	}
	var outFile string
	cmds["session recording"] = clientCommand{
		args: "ID", nargs: 1,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&outFile, "o", "", "write to this file (default: standard output)")
		},
		run: orgRun(func(ctx context.Context, c *api.V1Client, org string, pos []string) (any, func(io.Writer), error) {
			n, err := downloadRecording(ctx, c, org, pos[0], outFile)
			if err != nil || outFile == "" {
				return nil, nil, err
			}
			return sessionDone{ID: pos[0], Done: "downloaded", File: outFile, Bytes: n}, func(w io.Writer) {
				fmt.Fprintf(w, "recording of %s: %d bytes written to %s\n", pos[0], n, outFile)
			}, nil
		}),
	}
}

// downloadRecording writes a recording to path (stdout if ""). A file is
// written in full or not at all: it is renamed into place at the end.
func downloadRecording(ctx context.Context, c *api.V1Client, org, id, path string) (int64, error) {
	if path == "" {
		return c.DownloadRecording(ctx, org, id, os.Stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".warren-recording-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := c.DownloadRecording(ctx, org, id, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return n, err
	}
	return n, os.Rename(tmp.Name(), path)
}

// errorHint says what to do about an API refusal of a session command ("" if
// nothing useful).
func errorHint(code string) string {
	switch code {
	case "session_limit":
		return "end a session first: warren session list, then warren session terminate ID"
	case "no_credential":
		return "store a credential for the service or its folder: warren credential create --scope service:ID|folder:ID ..."
	case "host_key_changed":
		return "the server's host key is not the one trusted; if the change is expected, an administrator accepts the new key"
	case "bad_ticket":
		return "the attach ticket was refused (used, expired or not yours): attach again"
	case "session_ended":
		return "list the live sessions with: warren session list"
	}
	return ""
}
