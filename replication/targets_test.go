package replication

import (
	"slices"
	"testing"
)

// without cuts prefixes out of others: what is left covers exactly the
// parts of the others outside the cut, with the coarsest prefixes.
func TestWithout(t *testing.T) {
	p := func(b byte, bits int) prefix { return prefixOf([]byte{b}, bits) }
	for _, c := range []struct {
		name    string
		ps, cut []prefix
		want    []prefix
	}{
		{"nothing cut", []prefix{p(0x80, 1)}, []prefix{p(0x40, 2)}, []prefix{p(0x80, 1)}},
		{"all cut", []prefix{p(0x80, 2)}, []prefix{p(0x80, 1)}, nil},
		{"a quarter cut", []prefix{p(0x00, 0)}, []prefix{p(0x40, 2)}, []prefix{p(0x00, 2), p(0x80, 1)}},
		{"two cuts", []prefix{p(0x80, 1)}, []prefix{p(0x80, 3), p(0xe0, 3)}, []prefix{p(0xa0, 3), p(0xc0, 3)}},
	} {
		if got := without(c.ps, c.cut); !slices.Equal(got, c.want) {
			t.Errorf("%s: without(%v, %v) = %v, want %v", c.name, c.ps, c.cut, got, c.want)
		}
	}
}
