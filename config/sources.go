package config

import (
	"reflect"
	"strings"
)

// Sources records where each key's value came from, by YAML path
// ("replication.factor", "listen[1]"): "file.yaml:12", an environment
// variable's name, or a flag ("--api"). Later sources override earlier
// ones, as the values do.
type Sources map[string]string

// AddEnv records the keys that environ sets (ApplyEnv's variables).
func (s Sources) AddEnv(environ []string) {
	for _, p := range leafPaths(reflect.TypeFor[Config](), "") {
		name := EnvName(p)
		for _, kv := range environ {
			if k, _, _ := strings.Cut(kv, "="); k == name {
				s.Add(p, name)
			}
		}
	}
}

// Add records that source set the key at path, replacing what the path's
// list items were set by.
func (s Sources) Add(path, source string) {
	for p := range s {
		if strings.HasPrefix(p, path+"[") {
			delete(s, p)
		}
	}
	s[path] = source
}

// Locate sets the Source of every *ValidationError in err (joined errors
// included) to where its key was set, when s knows; a list item falls back
// to its list's source. It returns err.
func (s Sources) Locate(err error) error {
	var walk func(error)
	walk = func(e error) {
		if ve, ok := e.(*ValidationError); ok && ve.Source == "" {
			src, ok := s[ve.Path]
			if !ok {
				base, _, _ := strings.Cut(ve.Path, "[")
				src = s[base]
			}
			ve.Source = src
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return err
}
