package config

import (
	"fmt"
	"strconv"
)

// majorityText is how Majority is written in YAML, flags and environment variables.
const majorityText = "majority"

// String returns "majority" or the fixed count.
func (q Quorum) String() string {
	if q == Majority {
		return majorityText
	}
	return strconv.Itoa(int(q))
}

// MarshalText writes q as String does.
func (q Quorum) MarshalText() ([]byte, error) {
	return []byte(q.String()), nil
}

// UnmarshalText reads "majority" or a positive integer; q is unchanged on error.
// It also serves YAML, whose decoder uses encoding.TextUnmarshaler.
func (q *Quorum) UnmarshalText(text []byte) error {
	s := string(text)
	if s == majorityText {
		*q = Majority
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("%q is not %q or a positive integer", s, majorityText)
	}
	*q = Quorum(n)
	return nil
}
