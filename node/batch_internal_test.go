package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDecodeBatch(t *testing.T) {
	ok := `{"values":[{"key":"a","value":"eA=="},{"key":"b","value":"","ttl":"90s"}]}`
	got, err := decodeBatch([]byte(ok), 10, time.Hour)
	if err != nil || len(got) != 2 || got[0].key != "a" || string(got[0].value) != "x" || got[0].ttl != time.Hour ||
		got[1].key != "b" || len(got[1].value) != 0 || got[1].ttl != 90*time.Second {
		t.Fatalf("decodeBatch(%s) = %+v, %v", ok, got, err)
	}
	many := `{"values":[` + strings.Repeat(`{"key":"k","value":""},`, 3) + `{"key":"z"}]}`
	for name, body := range map[string]string{
		"not JSON":       `values`,
		"no values":      `{}`,
		"empty values":   `{"values":[]}`,
		"null values":    `{"values":null}`,
		"unknown field":  `{"values":[{"key":"a","value":"","w":2}]}`,
		"unknown top":    `{"values":[{"key":"a"}],"atomic":true}`,
		"bad base64":     `{"values":[{"key":"a","value":"!!"}]}`,
		"value not text": `{"values":[{"key":"a","value":7}]}`,
		"trailing data":  `{"values":[{"key":"a"}]} {}`,
		"trailing junk":  `{"values":[{"key":"a"}]}x`,
		"duplicate key":  `{"values":[{"key":"a"},{"key":"b"},{"key":"a"}]}`,
		"bad ttl":        `{"values":[{"key":"a","ttl":"soon"}]}`,
		"ttl too short":  `{"values":[{"key":"a","ttl":"1ms"}]}`,
		"over the bound": fmt.Sprintf(`{"values":[%s]}`, strings.TrimSuffix(strings.Repeat(`{"key":"k"},`, 11), ",")),
		"dup in many":    many,
		"array, not obj": `[{"key":"a"}]`,
		"truncated":      `{"values":[{"key":"a"`,
	} {
		if got, err := decodeBatch([]byte(body), 10, 0); !errors.Is(err, errBatchMalformed) {
			t.Errorf("%s: decodeBatch(%s) = %+v, %v; want errBatchMalformed", name, body, got, err)
		}
	}
}

// The batch decoder takes any body: it returns entries that obey the
// bounds or errBatchMalformed, and never panics.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"values":[{"key":"a","value":"eA=="},{"key":"b","value":"","ttl":"90s"}]}`))
	f.Add([]byte(`{"values":[{"key":"a"},{"key":"a"}]}`))
	f.Add([]byte(`{"values":[{"key":"@12D3KooW/x","value":"AAAA","ttl":"87600h"}]}`))
	f.Add([]byte(`{"values":[{"key":"","value":null}]}`))
	f.Add([]byte(`{"values":[{"key":"\u0000","value":"eA"}]} `))
	f.Add([]byte(`{"values":[]}`))
	f.Add([]byte(`{"values":[{"key":"a","ttl":"-1h"}],"values":[]}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		const bound = 4
		got, err := decodeBatch(body, bound, time.Minute)
		if err != nil {
			if !errors.Is(err, errBatchMalformed) || got != nil {
				t.Fatalf("error %v with %d entries; want errBatchMalformed and none", err, len(got))
			}
			return
		}
		if len(got) < 1 || len(got) > bound {
			t.Fatalf("%d entries accepted, bound %d", len(got), bound)
		}
		seen := map[string]bool{}
		for _, e := range got {
			if seen[e.key] {
				t.Fatalf("key %q accepted twice", e.key)
			}
			seen[e.key] = true
			if e.ttl < minTTL || e.ttl > maxTTL {
				t.Fatalf("ttl %v out of range", e.ttl)
			}
		}
	})
}
