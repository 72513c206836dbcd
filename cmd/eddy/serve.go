package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/server"
)

// serve runs the server until SIGINT or SIGTERM. SIGHUP, and a change of
// the configuration file's content, reload the configuration: the file,
// EDDY_* variables and flags are read again and handed to Server.Reload,
// which applies what can change live, names what needs a restart, and
// refuses an invalid configuration whole, keeping the running one.
//
// Settings come from, lowest first: built-in defaults, the YAML file named
// by --config (or EDDY_CONFIG), EDDY_* environment variables (one per flag:
// --data is EDDY_DATA, --sync-interval is EDDY_SYNC_INTERVAL), and flags.
func serve(args []string) error {
	return runServe(args, os.LookupEnv, nil)
}

// runServe is serve with the environment looked up with env; started,
// when set, is called with the running server (tests).
func runServe(args []string, env func(string) (string, bool), started func(*server.Server)) error {
	level := new(slog.LevelVar)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The one place this command names the component of its lines.
	configLog := logger.With("component", "config")
	// Watched from before it is read, so that no change goes unseen.
	var changed <-chan struct{}
	if path := configPath(args, env); path != "" {
		w, err := watchConfig(path, configLog)
		if err != nil {
			configLog.Warn("the configuration file is not watched; SIGHUP reloads it", "file", path, "err", err)
		} else {
			defer w.Close()
			changed = w.C
		}
	}
	cfg, err := loadConfig(args, env)
	if err != nil {
		return err
	}
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // Validate checks it
	slog.SetDefault(logger)

	// A SIGHUP while the server starts must not kill it (the default
	// action): it reloads once the server runs.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)
	profDir, _ := env(profileEnv)
	stopProfiles, err := startProfiles(profDir)
	if err != nil {
		return err
	}
	defer func() {
		if err := stopProfiles(); err != nil {
			logger.Warn("profiles not written", "dir", profDir, "err", err)
		}
	}()
	srv := &server.Server{Config: cfg, Logger: logger, LogLevel: level}
	if err := srv.Initialize(); err != nil {
		return err
	}
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if started != nil {
		started(srv)
	}
	reload := func(trigger string) {
		configLog.Info("reloading the configuration", "trigger", trigger)
		// Reload logs and counts what it did, or why it refused.
		_, _ = srv.ReloadWith(func() (server.Config, error) { return loadConfig(args, env) })
	}
	for {
		select {
		case got := <-sig:
			if got == syscall.SIGHUP {
				reload("SIGHUP")
				continue
			}
			logger.Info("shutting down", "signal", got.String())
			if err := srv.Close(); err != nil {
				return err
			}
			logger.Info("stopped")
			return nil
		case <-changed:
			reload("the configuration file changed")
		}
	}
}

// configPath is the configuration file named by --config or EDDY_CONFIG
// ("": none).
func configPath(args []string, env func(string) (string, bool)) string {
	path, _ := env("EDDY_CONFIG")
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			path = v
		} else if v, ok := strings.CutPrefix(a, "-config="); ok {
			path = v
		} else if (a == "--config" || a == "-config") && i+1 < len(args) {
			path = args[i+1]
		}
	}
	return path
}

// loadConfig builds the configuration from defaults, the YAML file,
// EDDY_* variables (looked up with env) and flags, in that order.
func loadConfig(args []string, env func(string) (string, bool)) (server.Config, error) {
	cfg := server.DefaultConfig()
	path := configPath(args, env)
	if path != "" {
		if err := cfg.LoadFile(path); err != nil {
			return cfg, err
		}
	}
	fs := serveFlags(&cfg, path)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envVar(f.Name)
		if v, ok := env(name); ok && f.Name != "config" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return cfg, envErr
	}
	if err := usage.Parse(fs, args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, usage.Errorf("serve", "unexpected argument %q", fs.Arg(0))
	}
	return cfg, nil
}

// serveFlags returns eddy serve's flags, each set into cfg; path is
// --config's default. The help (serveUsage) finds each flag's YAML key
// from the field it sets.
func serveFlags(cfg *server.Config, path string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("config", path, "YAML configuration `FILE`")
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data `DIRECTORY`")
	fs.StringVar(&cfg.HTTP, "http", cfg.HTTP, "HTTP listen `ADDRESS` (Kinesis APIs, HLS, web UI)")
	fs.StringVar(&cfg.RTSP, "rtsp", cfg.RTSP, "RTSP listen `ADDRESS`")
	fs.StringVar(&cfg.RTSPS, "rtsps", cfg.RTSPS, "RTSPS listen `ADDRESS` (served with --tls-cert; empty: none)")
	fs.StringVar(&cfg.RTSPUDPRTP, "rtsp-udp-rtp", cfg.RTSPUDPRTP, "UDP `ADDRESS` for RTSP's RTP over UDP (an even port; empty with --rtsp-udp-rtcp: TCP only)")
	fs.StringVar(&cfg.RTSPUDPRTCP, "rtsp-udp-rtcp", cfg.RTSPUDPRTCP, "UDP `ADDRESS` for RTSP's RTCP over UDP (the RTP port + 1)")
	fs.StringVar(&cfg.WebRTC, "webrtc", cfg.WebRTC, "WebRTC ICE listen `ADDRESS` (UDP and TCP)")
	fs.Var((*listFlag)(&cfg.WebRTCOptions.Advertise), "webrtc-advertise", "comma-separated IPs or host `NAMES` put in WebRTC ICE candidates (NAT, containers)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "TLS certificate `FILE` (PEM); enables HTTPS, HTTP/2 and RTSPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "TLS private key `FILE` (PEM)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "`REGION` named in ARNs")
	fs.StringVar(&cfg.Storage.Sync, "sync", cfg.Storage.Sync, "fsync `POLICY`: always (before acknowledging) or interval")
	fs.Var(&cfg.Storage.SyncInterval, "sync-interval", "fsync period (a `DURATION`) with --sync interval")
	fs.Var(&cfg.Storage.MinFree, "min-free", "free-space floor (a `SIZE` or a percentage): retention deletes the oldest data below it (5%, 10GB; 0: off)")
	fs.BoolVar(&cfg.Streams.Throttle, "throttle", cfg.Streams.Throttle, "enforce per-shard limits on PROVISIONED streams")
	fs.Var(&cfg.Streams.TransitionDelay, "transition-delay", "time (a `DURATION`) streams spend CREATING/UPDATING before ACTIVE")
	fs.Var(&cfg.HLS.PartDuration, "hls-part-duration", "LL-HLS part target (a `DURATION`) of LIVE sessions (0: LL-HLS off)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "`LEVEL`: debug, info, warn or error (changes live on a reload)")
	fs.BoolVar(&cfg.InsecureAllowNetwork, "insecure-allow-network", cfg.InsecureAllowNetwork, "allow non-loopback listen addresses without credentials")
	fs.Usage = func() { serveUsage(fs, cfg) }
	return fs
}

// envVar is the EDDY_* variable of a flag: --sync-interval is
// EDDY_SYNC_INTERVAL.
func envVar(flagName string) string {
	return "EDDY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listFlag is a comma-separated list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
