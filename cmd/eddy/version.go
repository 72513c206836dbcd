package main

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/datastreams/buildinfo"
)

// version prints what the binary was built from, as the Go toolchain
// recorded it: the module version ("(devel)" for a build in a checkout),
// the VCS revision and its time (go build in a git checkout records
// them; go run and go test do not), and the Go version.
func version(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	usage.Set(fs, "", "Prints Eddy's module version, the source revision and commit time it was built from (when\nthe build recorded them), and the Go version and platform.")
	if err := usage.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usage.Errorf("version", "unexpected argument %q", fs.Arg(0))
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprint(usage.Stdout, versionText(info))
	return nil
}

// versionText formats build info (nil: a binary built without module
// support, which the Go toolchain no longer makes).
func versionText(info *debug.BuildInfo) string {
	bi := buildinfo.From(info)
	mod, rev, at, modified := bi.Version, bi.Revision, bi.Time, bi.Modified
	if info == nil {
		mod = "unknown"
	}
	out := "eddy " + mod + "\n"
	if rev == "" {
		out += "revision: not recorded (go run and go test builds, or -buildvcs=false)\n"
	} else {
		out += "revision: " + rev
		if at != "" {
			out += " (" + at + ")"
		}
		if modified {
			out += ", with uncommitted changes"
		}
		out += "\n"
	}
	return out + fmt.Sprintf("go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
