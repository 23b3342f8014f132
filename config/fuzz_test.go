package config

import (
	"strconv"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the YAML decoder. It must never panic:
// either it reports an error, or it yields a config that Validate can judge
// and that survives a marshal/decode round trip unchanged.
func FuzzLoad(f *testing.F) {
	full, err := Default().marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	for _, seed := range []string{
		"",
		"network: lab\nreplication:\n  factor: 3\n  write_quorum: 2\n",
		"listen: [/ip4/127.0.0.1/tcp/0, /ip6/::1/udp/0/quic-v1]\n",
		"bootstrap:\n  - /ip4/1.2.3.4/tcp/1/p2p/12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5\n",
		"a: &x {b: *x}\n",
		"log: &l\n  level: debug\nroutiing: *l\n",
		"replication: {factor: 99999999999999999999}\n",
		"shutdown_timeout: 9223372036854775807ns\n",
		"? [a]\n: b\n",
		"--- \n...\n---\n",
		"api:\n  token: \"\\xff\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Default()
		if err := cfg.decodeYAML("fuzz.yaml", data, Sources{}); err != nil {
			return
		}
		_ = cfg.Validate()
		out, err := cfg.marshal()
		if err != nil {
			t.Fatalf("marshal of a decoded config: %v", err)
		}
		again := Default()
		if err := again.decodeYAML("again.yaml", out, Sources{}); err != nil {
			t.Fatalf("decoding marshalled config: %v\n%s", err, out)
		}
		assertConfigEqual(t, again, cfg)
	})
}

// FuzzQuorum checks that UnmarshalText accepts exactly "majority" and
// positive integers, leaves the quorum unchanged on error, and that String
// reads back to the same quorum.
func FuzzQuorum(f *testing.F) {
	for _, seed := range []string{"majority", "1", "8", "0", "-1", "+3", "007", "Majority", "", " 1", "99999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quorum(42)
		err := q.UnmarshalText([]byte(s))
		n, atoiErr := strconv.Atoi(s)
		wantOK := s == "majority" || (atoiErr == nil && n >= 1)
		if (err == nil) != wantOK {
			t.Fatalf("UnmarshalText(%q) error = %v, want ok=%v", s, err, wantOK)
		}
		if err != nil {
			if q != 42 {
				t.Fatalf("UnmarshalText(%q) failed but changed the quorum to %d", s, q)
			}
			return
		}
		var back Quorum
		if err := back.UnmarshalText([]byte(q.String())); err != nil || back != q {
			t.Fatalf("%q → %d → %q → %d, %v", s, q, q.String(), back, err)
		}
	})
}
