package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestLogger(t *testing.T) {
	for _, tc := range []struct {
		name, level, format string
		wantDebug, wantInfo bool
		wantJSON            bool
	}{
		{"default", "info", "text", false, true, false},
		{"debug json", "debug", "json", true, true, true},
		{"warn", "warn", "text", false, false, false},
		{"error", "error", "json", false, false, true},
		{"invalid falls back to info text", "loud", "xml", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.Log = Log{Level: tc.level, Format: tc.format}
			var buf bytes.Buffer
			log := cfg.Logger(&buf)
			log.Debug("d-msg")
			log.Info("i-msg", "k", "v")
			out := buf.String()
			if got := strings.Contains(out, "d-msg"); got != tc.wantDebug {
				t.Errorf("debug logged = %v, want %v:\n%s", got, tc.wantDebug, out)
			}
			if got := strings.Contains(out, "i-msg"); got != tc.wantInfo {
				t.Errorf("info logged = %v, want %v:\n%s", got, tc.wantInfo, out)
			}
			if !tc.wantInfo {
				return
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if last := lines[len(lines)-1]; json.Valid([]byte(last)) != tc.wantJSON {
				t.Errorf("line %q: JSON = %v, want %v", last, !tc.wantJSON, tc.wantJSON)
			}
		})
	}
}
