// Command warren is the Warren engine (`warren serve`) and its admin CLI,
// which talks to the running engine through the unix socket in its data dir.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

const usage = `warren: the Warren engine and its admin CLI

Usage:
  warren serve [flags]                       run the engine
  warren token create [--ttl 15m] [--json]   issue a single-use agent enrollment token
  warren device list [--json]                list enrolled devices
  warren device move DEVICE --folder ID       move an org's device into a folder (REST; manage)
  warren service add DEVICE --name N --protocol tcp|ssh|rdp|vnc|http|host --port P [--target HOST:PORT] [--record]
  warren service list DEVICE [--json]
  warren service remove DEVICE NAME
  warren publish add DEVICE/SERVICE --listen ADDR [--json]
  warren publish list [--json]
  warren publish remove ID|LISTEN
  warren openfga sync [--json]                    rebuild OpenFGA's tuples from the database
  warren kek rotate [--new-kek-file F] [--json]   re-seal every stored secret under a new KEK
  warren user token create --org ORG --user EMAIL [--ttl 720h] [--json]
  warren user list [--json]                    every user (issuer, platform admin, disabled)
  warren user disable|enable EMAIL|USER_ID     disabling signs the user out everywhere at once
                                                  mint an API token for a member (for scripts and login)
  warren version

Admin commands (above) reach the running engine through <data-dir>/warren.sock;
pass --data-dir (or set WARREN_DATA_DIR) when it is not ./warren-data.

Client commands use the REST API with an API token:
  warren login --server URL --token TOKEN    check the token and save both (0600)
  warren logout                              forget them
  warren org list | create --name N --slug S
  warren member list | add --user ID [--role member|admin]
  warren group list | create --name N | add-member GROUP --user ID|--group ID
  warren folder list | create --name N [--parent ID]
  warren grant list | remove ID
  warren grant add --subject user:ID|group:ID --relation connect --object folder:ID|device:ID|organization:ID
  warren acl explain USER DEVICE PORT
  warren credential list
  warren credential create --scope folder:ID|service:ID --name N [--username U] (--password-stdin | --private-key-file F)
  warren idp list
  warren idp add --name N --issuer URL --client-id ID [--client-secret-stdin] --domain D [--domain D...] [--group-claim C]
` + sessionUsage + `
They take --server and --token (else WARREN_SERVER and WARREN_TOKEN, else what
"warren login" saved), --org (else the saved one, else the token's own) and --json.
Run "warren COMMAND -h" for a command's flags.
`

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest)
	case "token", "device", "service", "publish", "openfga", "user":
		if len(rest) > 0 {
			if _, ok := clientCommands()[cmd+" "+rest[0]]; ok {
				return client(ctx, cmd, rest) // e.g. device move, through the REST API
			}
		}
		return admin(ctx, cmd, rest)
	case "org", "member", "group", "folder", "grant", "acl", "credential", "idp", "session":
		return client(ctx, cmd, rest)
	case "login":
		return login(ctx, rest)
	case "logout":
		return logout(rest)
	case "kek":
		return kek(ctx, rest)
	case "version":
		fmt.Println(version)
		return 0
	case "-h", "--help", "help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "warren: unknown command %q\n\n%s", cmd, usage)
	return 2
}
