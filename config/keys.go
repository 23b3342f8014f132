package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// This file is the one description of the configuration keys. Every key is a
// yaml-tagged field of Config; sections are nested structs. Load, Set,
// ApplyEnv and the template all find keys and read values through it.

// KeyError reports a value that could not be read into the configuration.
type KeyError struct {
	// Source is where the value came from: "file.yaml:12", an environment
	// variable name, or empty for a direct Set.
	Source string
	// Path is the key's YAML path, e.g. "replication.factor" or "bootstrap[1]".
	Path string
	// Reason says what is wrong, quoting the bad value.
	Reason string
}

func (e *KeyError) Error() string {
	var b strings.Builder
	for _, part := range []string{e.Source, e.Path} {
		if part != "" {
			b.WriteString(part + ": ")
		}
	}
	return b.String() + e.Reason
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	multiaddrType = reflect.TypeFor[ma.Multiaddr]()
	addrInfoType  = reflect.TypeFor[peer.AddrInfo]()

	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// keyName returns the YAML name of a struct field, or "" if it is not a key.
func keyName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// isSection reports whether a field of type t holds nested keys.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct
}

// joinPath appends name to a YAML path.
func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// keyNames lists the key names of section type t, for error messages.
func keyNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		if name := keyName(f); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// fieldByKey returns the field of section v named name in YAML.
func fieldByKey(v reflect.Value, name string) (reflect.Value, bool) {
	for i := range v.NumField() {
		if keyName(v.Type().Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// leafPaths returns the YAML path of every settable key under section type t.
func leafPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for f := range t.Fields() {
		name := keyName(f)
		switch {
		case name == "":
		case isSection(f.Type):
			paths = append(paths, leafPaths(f.Type, joinPath(prefix, name))...)
		default:
			paths = append(paths, joinPath(prefix, name))
		}
	}
	return paths
}

// field finds the leaf at path in c.
func (c *Config) field(path string) (reflect.Value, error) {
	v := reflect.ValueOf(c).Elem()
	prefix := ""
	for name := range strings.SplitSeq(path, ".") {
		if !isSection(v.Type()) {
			return reflect.Value{}, &KeyError{Path: path, Reason: fmt.Sprintf("%s has no keys below it", prefix)}
		}
		f, ok := fieldByKey(v, name)
		if !ok {
			return reflect.Value{}, &KeyError{Path: path, Reason: unknownKey(v.Type(), prefix)}
		}
		v, prefix = f, joinPath(prefix, name)
	}
	if isSection(v.Type()) {
		return reflect.Value{}, &KeyError{Path: path, Reason: "is a section; set one of its keys: " + strings.Join(keyNames(v.Type()), ", ")}
	}
	return v, nil
}

// unknownKey is the reason given for a key that section t does not have.
func unknownKey(t reflect.Type, section string) string {
	where := "here"
	if section != "" {
		where = "in " + section
	}
	return fmt.Sprintf("unknown key (known %s: %s)", where, strings.Join(keyNames(t), ", "))
}

// setScalar parses s into the non-list leaf f, leaving f unchanged on error.
func setScalar(f reflect.Value, s string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (write it like 10s, 500ms or 1m30s)", s)
		}
		f.SetInt(int64(d))
		return nil
	}
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch f.Kind() {
	case reflect.String:
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8", s)
		}
		f.SetString(s)
	case reflect.Int:
		n, err := strconv.ParseInt(s, 10, 0)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		f.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	default:
		return fmt.Errorf("keys of type %s cannot be set", f.Type())
	}
	return nil
}

// formatScalar is the inverse of setScalar.
func formatScalar(f reflect.Value) string {
	if f.Type() == durationType {
		return time.Duration(f.Int()).String()
	}
	if m, ok := f.Interface().(encoding.TextMarshaler); ok {
		b, _ := m.MarshalText() // Quorum's MarshalText never fails.
		return string(b)
	}
	switch f.Kind() {
	case reflect.Int:
		return strconv.FormatInt(f.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(f.Bool())
	default:
		return f.String()
	}
}

// parseItem parses one entry of a list leaf whose elements have type t.
func parseItem(t reflect.Type, s string) (reflect.Value, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("%q is not a multiaddr: %v", s, err)
	}
	switch t {
	case multiaddrType:
		return reflect.ValueOf(a), nil
	case addrInfoType:
		if _, err := a.ValueForProtocol(ma.P_P2P); err != nil {
			return reflect.Value{}, fmt.Errorf("%q has no /p2p/<peer id>", s)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("%q: %v", s, err)
		}
		return reflect.ValueOf(*ai), nil
	default:
		return reflect.Value{}, fmt.Errorf("lists of %s cannot be set", t)
	}
}

// setList replaces list leaf f with items, which parseItem produced. Address
// infos of one peer merge into one, in order of first appearance.
func setList(f reflect.Value, items []reflect.Value) {
	if len(items) == 0 {
		f.Set(reflect.Zero(f.Type())) // nil, as in Default
		return
	}
	list := reflect.MakeSlice(f.Type(), 0, len(items))
	if f.Type().Elem() != addrInfoType {
		f.Set(reflect.Append(list, items...))
		return
	}
	infos := list.Interface().([]peer.AddrInfo)
	for _, item := range items {
		ai := item.Interface().(peer.AddrInfo)
		if i := slices.IndexFunc(infos, func(x peer.AddrInfo) bool { return x.ID == ai.ID }); i >= 0 {
			infos[i].Addrs = append(infos[i].Addrs, ai.Addrs...)
		} else {
			infos = append(infos, ai)
		}
	}
	f.Set(reflect.ValueOf(infos))
}

// formatList is the inverse of parseItem and setList.
func formatList(f reflect.Value) ([]string, error) {
	var out []string
	switch l := f.Interface().(type) {
	case []ma.Multiaddr:
		for _, a := range l {
			out = append(out, a.String())
		}
	case []peer.AddrInfo:
		for _, ai := range l {
			addrs, err := peer.AddrInfoToP2pAddrs(&ai)
			if err != nil {
				return nil, err
			}
			for _, a := range addrs {
				out = append(out, a.String())
			}
		}
	}
	return out, nil
}
