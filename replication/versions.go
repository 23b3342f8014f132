package replication

import (
	"fmt"
	"time"
)

// Versions are bounded by the clock, so that no writer can push a key's
// version to where the next one overflows, or park it so far ahead that
// honest writers cannot follow: a record's version may not exceed the
// microseconds from the Unix epoch to its written_at (or versionFloor,
// whichever is larger), and its written_at may not lie more than
// MaxClockSkew in a holder's future. The highest version anyone can write
// today is therefore about 2^51, and it grows by one per microsecond; a
// writer whose next version is ahead of its clock stamps the record a
// little in the future (at most MaxClockSkew), waiting first if it must.
// Honest keys never come near the bound: it takes one write per
// microsecond since 1970 to reach it.
const (
	// MaxClockSkew is how far in a holder's future a record's written_at
	// may lie: the clock difference between nodes the network tolerates.
	MaxClockSkew = 5 * time.Second
	// versionFloor is the bound on versions for records stamped near the
	// epoch (tests, and clocks that are badly wrong).
	versionFloor = 1 << 32
)

// versionCeiling is the highest version a record written at writtenAt
// (unix ns) may carry.
func versionCeiling(writtenAt int64) uint64 {
	return max(uint64(max(writtenAt, 0)/int64(time.Microsecond)), versionFloor)
}

// earliestStamp is the earliest written_at (unix ns) a record of the
// given version may carry.
func earliestStamp(version uint64) int64 {
	if version <= versionFloor {
		return 0
	}
	return int64(version) * int64(time.Microsecond) // version ≤ ~2^51 here (checkVersion)
}

// checkVersion checks r's version and written_at against the clock (now,
// unix ns).
func checkVersion(r *Record, now int64) error {
	switch {
	case r.Version == 0:
		return fmt.Errorf("%w: version 0", ErrBadVersion)
	case r.WrittenAt > now+int64(MaxClockSkew):
		return fmt.Errorf("%w: written %v in the future", ErrBadVersion, time.Duration(r.WrittenAt-now).Round(time.Millisecond))
	case r.Version > versionCeiling(r.WrittenAt):
		return fmt.Errorf("%w: version %d is ahead of its written_at (at most %d)", ErrBadVersion, r.Version, versionCeiling(r.WrittenAt))
	}
	return nil
}
