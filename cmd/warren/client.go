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

	"github.com/warrenhq/warren/controlplane/api"
)

// clientCommand is one REST API subcommand (`warren folder list`, ...): it
// reaches the engine over HTTP with an API token, unlike the admin
// commands, which use the unix socket.
type clientCommand struct {
	args  string // positional arguments, for usage
	nargs int
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, s *session, pos []string) (any, func(w io.Writer), error)
}

// session is a client command's connection: the API client and the
// organization it acts in.
type session struct {
	c       *api.V1Client
	orgFlag string // --org, else the credentials file's org
}

// org returns the organization to act in: --org, else the saved one, else
// the API token's own (a token sees exactly one organization).
func (s *session) org(ctx context.Context) (string, error) {
	if s.orgFlag != "" {
		return s.orgFlag, nil
	}
	orgs, err := s.c.ListOrgs(ctx)
	if err != nil {
		return "", err
	}
	if len(orgs) != 1 {
		return "", fmt.Errorf("the token sees %d organizations: pass --org", len(orgs))
	}
	return orgs[0].ID, nil
}

// clientFlags are the connection flags every client command takes.
type clientFlags struct {
	server, token, org string
	insecure, asJSON   bool
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "engine URL (default: WARREN_SERVER, else the one saved by `warren login`)")
	fs.StringVar(&f.token, "token", "", "API token (default: WARREN_TOKEN, else the one saved by `warren login`)")
	fs.StringVar(&f.org, "org", "", "organization id or slug (default: the saved one, else the token's)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain http to a host that is not loopback")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
}

// session resolves server, token and org: flags, then the environment,
// then the credentials file. The saved token is only sent to the saved
// server.
func (f *clientFlags) session() (*session, error) {
	saved, err := loadCredentials()
	if err != nil {
		return nil, err
	}
	server := firstNonEmpty(f.server, os.Getenv("WARREN_SERVER"), saved.Server)
	token := firstNonEmpty(f.token, os.Getenv("WARREN_TOKEN"))
	org := f.org
	if strings.TrimRight(server, "/") == strings.TrimRight(saved.Server, "/") {
		token = firstNonEmpty(token, saved.Token)
		org = firstNonEmpty(org, saved.Org)
	}
	switch {
	case server == "":
		return nil, errors.New("no server: run `warren login --server URL --token TOKEN`, or pass --server or set WARREN_SERVER")
	case token == "":
		return nil, errors.New("no API token for " + server + ": run `warren login`, or pass --token or set WARREN_TOKEN")
	}
	c := api.NewV1Client(server, token)
	c.Insecure = f.insecure || (saved.Insecure && server == saved.Server)
	return &session{c: c, orgFlag: org}, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// client runs `warren GROUP VERB ...` for a REST API command.
func client(ctx context.Context, group string, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	name := group + " " + args[0]
	cmd, ok := clientCommands()[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "warren: unknown command %q\n\n%s", name, usage)
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: warren %s %s [flags]\n", name, cmd.args)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	if len(pos) != cmd.nargs {
		fs.Usage()
		return 2
	}
	s, err := cf.session()
	if err != nil {
		return fail(err)
	}
	out, human, err := cmd.run(ctx, s, pos)
	if err != nil {
		return fail(err)
	}
	return output(out, human, cf.asJSON)
}

// output writes out as JSON or through human.
func output(out any, human func(io.Writer), asJSON bool) int {
	if asJSON && out != nil {
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

// loginResult is what `warren login --json` prints: never the token.
type loginResult struct {
	Server string `json:"server"`
	Org    string `json:"org,omitempty"`
	File   string `json:"file"`
}

// login validates an API token against the server and saves both.
func login(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	server := firstNonEmpty(cf.server, os.Getenv("WARREN_SERVER"))
	token := firstNonEmpty(cf.token, os.Getenv("WARREN_TOKEN"))
	if server == "" {
		fmt.Fprintln(os.Stderr, "warren login: --server URL is required")
		return 2
	}
	if token == "" {
		fmt.Fprintln(os.Stderr, "warren login: --token is required (signing in through the browser is not supported yet).\n"+
			"Mint an API token in the console (Settings > API tokens) or, on the engine's host, with:\n"+
			"  warren user token create --org ORG --user EMAIL")
		return 2
	}
	c := api.NewV1Client(server, token)
	c.Insecure = cf.insecure
	orgs, err := c.ListOrgs(ctx)
	if err != nil {
		return fail(fmt.Errorf("checking the token: %w", err))
	}
	org := cf.org
	if org == "" && len(orgs) == 1 {
		org = orgs[0].Slug
	}
	path, err := saveCredentials(credentials{Server: c.Server, Token: token, Org: org, Insecure: cf.insecure})
	if err != nil {
		return fail(err)
	}
	res := loginResult{Server: c.Server, Org: org, File: path}
	return output(res, func(w io.Writer) {
		fmt.Fprintf(w, "Logged in to %s", res.Server)
		if org != "" {
			fmt.Fprintf(w, " (organization %s)", org)
		}
		fmt.Fprintf(w, "; credentials saved in %s\n", path)
	}, cf.asJSON)
}

// logout removes the saved credentials. The token stays valid until it is
// revoked (`warren` has no command for that yet; use the console).
func logout(args []string) int {
	fs := flag.NewFlagSet("logout", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, err := removeCredentials()
	if err != nil {
		return fail(err)
	}
	fmt.Printf("Removed %s. The API token itself stays valid until revoked in the console.\n", path)
	return 0
}
