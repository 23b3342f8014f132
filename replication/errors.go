package replication

import "errors"

var (
	// ErrInvalidKey is returned for a user key that is empty, too long, not
	// UTF-8 or contains NUL, and for a DHT key outside dhtnode's namespace.
	ErrInvalidKey = errors.New("invalid key")
	// ErrMalformed is returned by Unmarshal for bytes that are not a record.
	ErrMalformed = errors.New("malformed record")
	// ErrBadSignature is returned when a record's signature does not verify.
	ErrBadSignature = errors.New("bad record signature")
	// ErrTooLarge is returned for a value over the configured maximum size.
	ErrTooLarge = errors.New("value too large")
	// ErrExpired is returned by the validator for a record whose expiry has passed.
	ErrExpired = errors.New("record expired")
	// ErrNotFound is returned by reads when no holder has a live record.
	ErrNotFound = errors.New("not found")
	// ErrVersionConflict is returned by a compare-and-set write whose
	// expected version is not the current one.
	ErrVersionConflict = errors.New("version conflict")
	// ErrInsufficientReplicas is returned when a read or write could not
	// reach its quorum of holders, or when this node cannot know a majority
	// of the key's holders (quorum.go).
	ErrInsufficientReplicas = errors.New("quorum not reached")
	// ErrBadQuorum is returned, before anything is sent, for a w or r that
	// asks for more holders than the replication factor or than were found.
	ErrBadQuorum = errors.New("quorum cannot be met")
	// ErrBadVersion is returned by the validator for a record whose version
	// or written_at the clock rules out (versions.go).
	ErrBadVersion = errors.New("bad record version")
	// errBadAnswer marks a holder's answer that carried a record failing
	// validation: it counts as a failed request, and in bad_answers_total.
	errBadAnswer = errors.New("bad answer")
)
