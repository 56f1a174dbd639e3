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
  warren service add DEVICE --name N --protocol tcp|ssh|rdp|vnc|http|host --port P [--target HOST:PORT]
  warren service list DEVICE [--json]
  warren service remove DEVICE NAME
  warren publish add DEVICE/SERVICE --listen ADDR [--json]
  warren publish list [--json]
  warren publish remove ID|LISTEN
  warren openfga sync [--json]                    rebuild OpenFGA's tuples from the database
  warren kek rotate [--new-kek-file F] [--json]   re-seal every stored secret under a new KEK
  warren version

Admin commands reach the running engine through <data-dir>/warren.sock;
pass --data-dir (or set WARREN_DATA_DIR) when it is not ./warren-data.
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
	case "token", "device", "service", "publish", "openfga":
		return admin(ctx, cmd, rest)
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
