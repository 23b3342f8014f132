package node_test

import (
	"testing"

	"github.com/dhtnode/dhtnode/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
