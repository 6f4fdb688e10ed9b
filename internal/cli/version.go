package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/glucoshare/glucoshare/internal/version"
)

const versionUsage = `Usage: glucoshare version [--format text|json]

Prints the version, the commit the binary was built from, the build date and
the Go version. 'glucoshare --version' prints the same line. A running server
answers the same as JSON at GET /version and as the metric
glucoshare_build_info at /metrics.
`

// runVersion prints the build information.
func runVersion(_ context.Context, args []string, env Env) error {
	fs := flagSet("version", versionUsage, env)
	format := fs.String("format", "text", "text or json")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	info := version.Get()
	switch *format {
	case "text":
		fmt.Fprintln(env.Stdout, info)
		return nil
	case "json":
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	return fmt.Errorf("%w: --format must be text or json, not %q", errUsage, *format)
}
