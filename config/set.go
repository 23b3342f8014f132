package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Set overrides the key at YAML path (e.g. "replication.factor",
// "api.listen", "shutdown_timeout") with value, parsed as in the config
// file: integers, true/false, Go durations ("10s"), "majority" or a count for
// quorums. For the list keys (listen, bootstrap) value is a comma-separated
// list of multiaddrs that replaces the whole list; a command line joins the
// values of a repeated flag with commas. c is unchanged on error, which is a
// *KeyError naming the key and the bad value.
func (c *Config) Set(path, value string) error {
	f, err := c.field(path)
	if err != nil {
		return err
	}
	if f.Kind() != reflect.Slice {
		if err := setScalar(f, value); err != nil {
			return &KeyError{Path: path, Reason: err.Error()}
		}
		c.DataDir = expandHome(c.DataDir)
		return nil
	}
	var items []reflect.Value
	for i, s := range splitList(value) {
		v, err := parseItem(f.Type().Elem(), s)
		if err != nil {
			return &KeyError{Path: fmt.Sprintf("%s[%d]", path, i), Reason: err.Error()}
		}
		items = append(items, v)
	}
	setList(f, items)
	return nil
}

// splitList splits a comma-separated list, dropping spaces and empty entries.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// envPrefix starts every environment variable that configures dhtnode.
const envPrefix = "DHTNODE_"

// Variables of the command-line client that ApplyEnv leaves alone.
const (
	// ClientAPIEnv holds the URL of the node a client command talks to.
	ClientAPIEnv = "DHTNODE_API"
	// ClientTokenEnv holds the bearer token a client command sends.
	ClientTokenEnv = "DHTNODE_TOKEN"
)

// EnvName returns the environment variable for the key at YAML path:
// "replication.factor" → "DHTNODE_REPLICATION_FACTOR".
func EnvName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// ApplyEnv applies every DHTNODE_<SECTION>_<KEY>=value entry of environ
// (as from os.Environ) to cfg with Set. DHTNODE_API and DHTNODE_TOKEN belong
// to the client and are ignored, as are DHTNODE_ variables that do not
// start like a key (DHTNODE_TEST_LOG). Any other unknown name is an error,
// so a typo does not go unnoticed. All problems are returned joined, each a
// *KeyError naming the variable.
func ApplyEnv(cfg *Config, environ []string) error {
	paths := leafPaths(reflect.TypeFor[Config](), "")
	byEnv := make(map[string]string, len(paths))
	for _, p := range paths {
		byEnv[EnvName(p)] = p
	}
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || name == ClientAPIEnv || name == ClientTokenEnv {
			continue
		}
		path, ok := byEnv[name]
		switch {
		case ok:
			if err := cfg.Set(path, value); err != nil {
				var ke *KeyError
				if errors.As(err, &ke) {
					ke.Source = name
				}
				errs = append(errs, err)
			}
		case looksLikeKey(name, paths):
			errs = append(errs, &KeyError{Source: name, Reason: "unknown variable; known: " + strings.Join(similarEnvNames(name, paths), ", ")})
		}
	}
	return errors.Join(errs...)
}

// looksLikeKey reports whether the unknown variable name starts like a
// configuration key (DHTNODE_REPLICATION_…, DHTNODE_DATADIR).
func looksLikeKey(name string, paths []string) bool {
	rest := strings.ReplaceAll(strings.TrimPrefix(name, envPrefix), "_", "")
	return slices.ContainsFunc(paths, func(p string) bool {
		return strings.HasPrefix(rest, strings.ToUpper(firstWord(p)))
	})
}

// similarEnvNames lists the variables of the keys that start with the same
// word as name (the keys of its section), or of every key if none does.
func similarEnvNames(name string, paths []string) []string {
	var all, similar []string
	word := firstWord(strings.ToLower(strings.TrimPrefix(name, envPrefix)))
	for _, p := range paths {
		all = append(all, EnvName(p))
		if firstWord(p) == word {
			similar = append(similar, EnvName(p))
		}
	}
	if len(similar) > 0 {
		return similar
	}
	return all
}

// firstWord returns the part of a YAML path before its first "." or "_".
func firstWord(path string) string {
	i := strings.IndexAny(path, "._")
	if i < 0 {
		return path
	}
	return path[:i]
}
