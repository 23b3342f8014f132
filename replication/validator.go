package replication

import (
	"fmt"
	"time"

	record "github.com/libp2p/go-libp2p-record"
)

// Validator checks dhtnode records for kad-dht (go-libp2p-record's
// Validator interface) and for the manager, so both apply one policy.
type Validator struct {
	MaxValueSize int
	// clock returns the current time; nil means time.Now (tests set it).
	clock    func() time.Time
	verified *sigCache
}

// NewValidator returns a validator for values of up to maxValueSize bytes
// that remembers the signatures it verified.
func NewValidator(maxValueSize int) Validator {
	return Validator{MaxValueSize: maxValueSize, verified: newSigCache()}
}

var _ record.Validator = Validator{}

func (v Validator) now() int64 {
	if v.clock != nil {
		return v.clock().UnixNano()
	}
	return time.Now().UnixNano()
}

// Validate implements record.Validator for a DHT key "/v/<user key>".
func (v Validator) Validate(dhtKey string, value []byte) error {
	_, err := v.Decode(dhtKey, value)
	return err
}

// Decode parses and fully validates a record stored under a DHT key: key,
// layout, value size, signature and expiry.
func (v Validator) Decode(dhtKey string, value []byte) (*Record, error) {
	userKey, err := UserKey(dhtKey)
	if err != nil {
		return nil, err
	}
	r, err := Unmarshal(userKey, value)
	if err != nil {
		return nil, err
	}
	if err := v.check(r); err != nil {
		return nil, err
	}
	return r, nil
}

// check validates a decoded record: size, expiry, version, owner and signature.
func (v Validator) check(r *Record) error {
	if r.Expired(v.now()) {
		return ErrExpired
	}
	return v.checkAnswer(r)
}

// checkAnswer validates a record a holder answered with: everything check
// does but expiry, as an expired record is a true answer (the key expired).
// A record that fails it must not influence a read, a write or a repair.
func (v Validator) checkAnswer(r *Record) error {
	if len(r.Value) > v.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(r.Value), v.MaxValueSize)
	}
	if err := checkVersion(r, v.now()); err != nil {
		return err
	}
	if err := checkOwner(r); err != nil { // owner.go
		return err
	}
	return v.verified.verify(r)
}

// Select implements record.Validator: it returns the index of the winning
// record by Record.Compare. Records that do not decode lose; on a tie the
// earlier index wins, so re-storing an identical record is accepted.
func (v Validator) Select(dhtKey string, values [][]byte) (int, error) {
	userKey, err := UserKey(dhtKey)
	if err != nil {
		return 0, err
	}
	best, bestIdx := (*Record)(nil), -1
	for i, val := range values {
		r, err := Unmarshal(userKey, val)
		if err != nil {
			continue
		}
		if best == nil || r.Compare(best) > 0 {
			best, bestIdx = r, i
		}
	}
	if bestIdx < 0 {
		return 0, fmt.Errorf("%w: no valid record to select", ErrMalformed)
	}
	return bestIdx, nil
}
