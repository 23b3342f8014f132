package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path on top of Default. Unknown keys, values
// of the wrong type and unparsable values are errors (*KeyError, joined)
// that give the file, line and key. A missing file is an error too; the
// caller decides whether a config file is optional. Load does not
// Validate.
func Load(path string) (Config, error) {
	cfg, _, err := LoadSources(path)
	return cfg, err
}

// LoadSources is Load that also returns where in the file each key was set,
// so that Validate's errors can be located (Sources.Locate).
func LoadSources(path string) (Config, Sources, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("read config: %w", err)
	}
	cfg := Default()
	src := Sources{}
	if err := cfg.decodeYAML(path, data, src); err != nil {
		return Config{}, nil, err
	}
	return cfg, src, nil
}

// decodeYAML applies the YAML document data, read from file name, to c,
// and records in src the file and line of each key it sets. Keys absent
// from the document keep their current values.
func (c *Config) decodeYAML(name string, data []byte, src Sources) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // an empty file changes nothing
	} else if err != nil {
		return yamlSyntaxError(name, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: holds more than one YAML document", name)
	}
	if len(doc.Content) == 0 {
		return nil // only comments
	}
	d := decoder{file: name, src: src}
	d.section(reflect.ValueOf(c).Elem(), "", doc.Content[0])
	c.DataDir = expandHome(c.DataDir)
	return errors.Join(d.errs...)
}

// decoder walks a YAML node tree along Config's keys, collecting every error.
type decoder struct {
	file string
	src  Sources
	errs []error
}

// at is the source of node n: "file:line".
func (d *decoder) at(n *yaml.Node) string { return fmt.Sprintf("%s:%d", d.file, n.Line) }

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	d.errs = append(d.errs, &KeyError{Source: d.at(n), Path: path, Reason: fmt.Sprintf(format, args...)})
}

// section applies mapping n to section v, whose YAML path is prefix.
func (d *decoder) section(v reflect.Value, prefix string, n *yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return // an empty section keeps its values
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, prefix, "want a mapping of keys, got %s", describe(n))
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, prefix, "want a key name, got %s", describe(k))
			continue
		}
		path := joinPath(prefix, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.fail(k, path, "duplicate key (first set on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByKey(v, k.Value)
		switch {
		case !ok:
			d.fail(k, path, "%s", unknownKey(v.Type(), prefix))
		case isSection(f.Type()):
			d.section(f, path, val)
		case f.Kind() == reflect.Slice:
			d.src[path] = d.at(k)
			d.list(f, path, val)
		default:
			d.src[path] = d.at(k)
			d.scalar(f, path, val)
		}
	}
}

// list applies sequence n to list leaf f.
func (d *decoder) list(f reflect.Value, path string, n *yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		setList(f, nil)
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list of multiaddr strings, got %s", describe(n))
		return
	}
	items := make([]reflect.Value, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		item = resolve(item)
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		d.src[itemPath] = d.at(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			d.fail(item, itemPath, "want a multiaddr string, got %s", describe(item))
			ok = false
			continue
		}
		v, err := parseItem(f.Type().Elem(), item.Value)
		if err != nil {
			d.fail(item, itemPath, "%v", err)
			ok = false
			continue
		}
		items = append(items, v)
	}
	if ok {
		setList(f, items)
	}
}

// scalar applies scalar n to leaf f. Integers and booleans must be written
// as such; other keys take any scalar as text.
func (d *decoder) scalar(f reflect.Value, path string, n *yaml.Node) {
	n = resolve(n)
	var want, tag string
	switch {
	case n.Kind != yaml.ScalarNode:
		d.fail(n, path, "want a single value, got %s", describe(n))
		return
	case isNull(n) && f.Kind() == reflect.String:
		f.SetString("")
		return
	case isNull(n):
		d.fail(n, path, "missing value")
		return
	case f.Type() == durationType || reflect.PointerTo(f.Type()).Implements(textUnmarshalerType):
		// Parsed from text: "10s", "majority".
	case f.Kind() == reflect.Int:
		want, tag = "an integer", "!!int"
	case f.Kind() == reflect.Bool:
		want, tag = "true or false", "!!bool"
	}
	if tag != "" && n.ShortTag() != tag {
		d.fail(n, path, "want %s, got %s", want, describe(n))
		return
	}
	if err := setScalar(f, n.Value); err != nil {
		d.fail(n, path, "%v", err)
	}
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what node n holds, for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		kinds := map[string]string{"!!str": "the string", "!!int": "the integer", "!!float": "the number",
			"!!bool": "the boolean", "!!null": "null", "!!timestamp": "the timestamp"}
		kind, ok := kinds[n.ShortTag()]
		if !ok {
			kind = strings.TrimPrefix(n.ShortTag(), "!!")
		}
		if isNull(n) {
			return kind
		}
		return fmt.Sprintf("%s %q", kind, n.Value)
	default:
		return "an alias"
	}
}
