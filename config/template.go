package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// templateHeader opens every file WriteDefaultFile writes.
const templateHeader = `dhtnode configuration. Every key is shown with its default.
Environment variables DHTNODE_<SECTION>_<KEY> (e.g. DHTNODE_REPLICATION_FACTOR)
override this file, and "dhtnode run" flags override both.`

// WriteDefaultFile writes a commented config.yaml to path holding every key
// with its default value, data_dir set to dataDir. Loading the file gives
// Default() with that data_dir. It refuses to overwrite an existing file.
func WriteDefaultFile(path, dataDir string) error {
	cfg := Default()
	cfg.DataDir = dataDir
	data, err := cfg.marshal()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("config file %s already exists; edit it or remove it first", path)
	} else if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write config %s: %w", path, err)
	}
	return nil
}

// marshal renders c as YAML with a comment above every key, in field order.
func (c Config) marshal() ([]byte, error) {
	root, err := sectionNode(reflect.ValueOf(c), "")
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: templateHeader, Content: []*yaml.Node{root}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return spaceSections(buf.Bytes()), nil
}

// spaceSections puts a blank line before each top-level key's comment. A line
// that starts with "#" is never inside a value, so this changes no value.
func spaceSections(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out bytes.Buffer
	for i, line := range lines {
		if i > 0 && bytes.HasPrefix(line, []byte("#")) && !bytes.HasPrefix(lines[i-1], []byte("#")) && len(bytes.TrimSpace(lines[i-1])) > 0 {
			out.WriteByte('\n')
		}
		out.Write(line)
	}
	return out.Bytes()
}

// sectionNode renders section v, whose YAML path is prefix, as a mapping.
func sectionNode(v reflect.Value, prefix string) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		name := keyName(sf)
		if name == "" {
			continue
		}
		path := joinPath(prefix, name)
		comment := sf.Tag.Get("doc")
		var val *yaml.Node
		switch f := v.Field(i); {
		case isSection(sf.Type):
			var err error
			if val, err = sectionNode(f, path); err != nil {
				return nil, err
			}
		case sf.Type.Kind() == reflect.Slice:
			items, err := formatList(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			val = &yaml.Node{Kind: yaml.SequenceNode}
			if len(items) == 0 {
				val.Style = yaml.FlowStyle
			}
			for _, s := range items {
				val.Content = append(val.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
			}
			comment += " [" + EnvName(path) + ", comma-separated]"
		default:
			val = &yaml.Node{Kind: yaml.ScalarNode, Tag: scalarTag(sf.Type), Value: formatScalar(f)}
			comment += " [" + EnvName(path) + "]"
		}
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: name, HeadComment: comment}
		n.Content = append(n.Content, key, val)
	}
	return n, nil
}

// scalarTag is the YAML tag that a leaf of type t is written with, so that
// the decoder reads it back with the same type.
func scalarTag(t reflect.Type) string {
	switch {
	case t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType):
		return "!!str"
	case t.Kind() == reflect.Int:
		return "!!int"
	case t.Kind() == reflect.Bool:
		return "!!bool"
	}
	return "!!str"
}
