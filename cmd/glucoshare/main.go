// Command glucoshare is a self-hosted Dexcom Share server. See README.md.
package main

import (
	"context"
	"os"

	"github.com/glucoshare/glucoshare/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], cli.OSEnv()))
}
