package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/procs"
	"github.com/dhtnode/dhtnode/internal/sysmon"
	"github.com/dhtnode/dhtnode/node"
)

// flagKey ties a "dhtnode run" flag to the config key it overrides.
type flagKey struct{ flag, key string }

type runOptions struct {
	configPath string
	ephemeral  bool
	keys       []flagKey // applied in this order, when set on the command line
}

func (a *app) newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node daemon",
		Long: `run starts a node and serves until SIGINT or SIGTERM, then hands its records
to the remaining holders and exits; a second signal exits at once.

The configuration is the defaults, overridden by the config file (--config, else
<data-dir>/config.yaml when it exists), overridden by DHTNODE_<SECTION>_<KEY>
environment variables, overridden by the flags below that are given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.runConfig(cmd.Flags(), o)
			if err != nil {
				return err
			}
			return a.serve(cmd, cfg)
		},
	}
	o.register(cmd.Flags())
	return cmd
}

// register defines the flags of "dhtnode run" on f.
func (o *runOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.configPath, "config", "", "config file (default <data-dir>/"+configFile+" when it exists)")
	f.BoolVar(&o.ephemeral, "ephemeral", false, "in-memory store and a fresh identity, for quick tries")
	key := func(flag, key string) { o.keys = append(o.keys, flagKey{flag, key}) }
	f.String("data-dir", "", "directory for identity, datastore and saved peers [data_dir]")
	key("data-dir", "data_dir")
	f.String("identity-file", "", "private key file to run as, read only (default <data-dir>/identity.key) [identity_file]")
	key("identity-file", "identity_file")
	f.String("network", "", "network name; only nodes with the same name talk [network]")
	key("network", "network")
	f.StringArray("listen", nil, "libp2p listen multiaddr, repeatable [listen]")
	key("listen", "listen")
	f.StringArray("bootstrap", nil, "bootstrap peer multiaddr with /p2p/<id>, repeatable [bootstrap]")
	key("bootstrap", "bootstrap")
	f.String("api", "", "HTTP API listen address HOST:PORT [api.listen]")
	key("api", "api.listen")
	f.String("api-token", "", "bearer token the HTTP API requires; shows in ps, so prefer --api-token-file or DHTNODE_API_TOKEN [api.token]")
	key("api-token", "api.token")
	f.String("api-token-file", "", "file whose first line is the API's bearer token [api.token_file]")
	key("api-token-file", "api.token_file")
	f.Int("replication-factor", 0, "holders per key, k [replication.factor]")
	key("replication-factor", "replication.factor")
	f.String("write-quorum", "", "holder acks a write needs: majority or a count [replication.write_quorum]")
	key("write-quorum", "replication.write_quorum")
	f.String("read-quorum", "", "holder answers a read waits for: majority or a count [replication.read_quorum]")
	key("read-quorum", "replication.read_quorum")
	f.Duration("repair-interval", 0, "re-replication deadline and sweep period [replication.repair_interval]")
	key("repair-interval", "replication.repair_interval")
	f.Duration("probe-interval", 0, "time in which every routing-table peer is probed [routing.probe_interval]")
	key("probe-interval", "routing.probe_interval")
	f.String("log-level", "", "debug, info, warn or error [log.level]")
	key("log-level", "log.level")
	f.String("log-format", "", "text or json [log.format]")
	key("log-format", "log.format")
	f.Bool("storage-sync", false, "fsync every write before acknowledging it [storage.sync]")
	key("storage-sync", "storage.sync")
}

// runConfig builds the daemon's configuration: defaults < config file <
// environment < flags that were set. It returns a configError or
// *config.KeyError (exit code 2) for anything invalid.
func (a *app) runConfig(flags *pflag.FlagSet, o *runOptions) (config.Config, error) {
	path := o.configPath
	if path == "" {
		dir, err := a.dataDir(flags)
		if err != nil {
			return config.Config{}, err
		}
		switch _, err := os.Stat(filepath.Join(dir, configFile)); {
		case err == nil:
			path = filepath.Join(dir, configFile)
		case !errors.Is(err, fs.ErrNotExist):
			return config.Config{}, configError{err}
		}
	}
	cfg, src := config.Default(), config.Sources{}
	if path != "" {
		var err error
		if cfg, src, err = config.LoadSources(path); err != nil {
			return config.Config{}, configError{err}
		}
	}
	if err := config.ApplyEnv(&cfg, a.environ); err != nil {
		return config.Config{}, configError{err}
	}
	src.AddEnv(a.environ)
	var errs []error
	for _, fk := range o.keys {
		if !flags.Changed(fk.flag) {
			continue
		}
		src.Add(fk.key, "--"+fk.flag)
		if err := cfg.Set(fk.key, flagValue(flags.Lookup(fk.flag))); err != nil {
			var ke *config.KeyError
			if errors.As(err, &ke) {
				ke.Source = "--" + fk.flag
			}
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config.Config{}, configError{err}
	}
	cfg.Ephemeral = o.ephemeral
	if err := cfg.Validate(); err != nil {
		return config.Config{}, configError{src.Locate(err)}
	}
	return cfg, nil
}

// flagValue is a flag's value in the form config.Set parses: a repeated
// flag's values joined by commas.
func flagValue(f *pflag.Flag) string {
	if s, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(s.GetSlice(), ",")
	}
	return f.Value.String()
}

// serve runs a node with cfg until the command's context ends or SIGINT or
// SIGTERM arrives, then closes it. A second signal during the shutdown
// ends the process at once (the default action, restored by stop).
func (a *app) serve(cmd *cobra.Command, cfg config.Config) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := cfg.Logger(a.stderr)
	if cmd.Flags().Changed("api-token") {
		logger.Warn("--api-token is visible to every local user (ps, /proc) and in shell history; " +
			"use --api-token-file, api.token_file or DHTNODE_API_TOKEN instead")
	}
	if a.tuneRuntime {
		slack, err := sysmon.ParseSlack(a.getenv(sysmon.SlackEnv))
		if err != nil {
			return configError{err}
		}
		if err := sysmon.Ensure(slack, os.Args, a.environ); err != nil {
			// An optimisation only (README "CPU cores"): not worth a warning.
			logger.Debug("running without the sysmon tuning", "error", err)
		}
	}
	if a.tuneRuntime && a.getenv("GOMAXPROCS") == "" {
		procsDone := make(chan struct{})
		procsCtx, stopProcs := context.WithCancel(ctx)
		go func() {
			defer close(procsDone)
			procs.Run(procsCtx, procs.DefaultPolicy, time.Second, logger)
		}()
		defer func() { stopProcs(); <-procsDone }()
	}
	n, err := node.New(cfg, logger)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil { // Start logs the ready line
		return errors.Join(err, n.Close())
	}
	<-ctx.Done()
	stop()
	logger.Info("shutting down: handing records over (signal again to exit at once)", "timeout", cfg.ShutdownTimeout)
	if err := n.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
