package replication

import (
	"errors"
	"strings"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// The watch protocol (/dhtnode/<network>/watch/1.0.0) lets a node that
// serves watches subscribe to a key's holders, which then notify it of
// every record of the key they store: delivery needs no polling. A
// subscriber opens one stream per holder and multiplexes its keys on it.
//
// Every message is varint-length-prefixed. Subscriber to holder: an op
// byte (watchSub, watchUnsub), the uvarint length of the user key and the
// key (encodeRequest). Holder to
// subscriber: a kind byte, the uvarint length of the key, the key, and for
// watchRecord the record's wire bytes (Record.Marshal). A holder answers
// every watchSub with the record it has (watchRecord) or watchAbsent, so
// that a subscription is also a read, and refuses one over its limits with
// watchRefused. A holder that cannot keep up with a subscriber resets the
// stream; the subscriber subscribes again, which reads the key again, so a
// change is never lost silently.

const (
	watchSub   byte = 1
	watchUnsub byte = 2
)

const (
	watchRecord  byte = 1
	watchAbsent  byte = 2
	watchRefused byte = 3
)

// WatchProtocolID is the watch protocol of a network whose kad-dht protocol
// prefix is prefix (e.g. "/dhtnode/default").
func WatchProtocolID(prefix protocol.ID) protocol.ID { return prefix + "/watch/1.0.0" }

// watchProtocolFor is the watch protocol beside a record protocol
// (ProtocolID): the same network prefix.
func watchProtocolFor(record protocol.ID) protocol.ID {
	return WatchProtocolID(protocol.ID(strings.TrimSuffix(string(record), "/record/1.0.0")))
}

// encodeNotice builds a holder's message about key, laid out as a
// record-protocol request.
func encodeNotice(kind byte, key string, rec []byte) []byte { return encodeRequest(kind, key, rec) }

// decodeNotice splits a holder's message.
func decodeNotice(msg []byte) (kind byte, key string, rec []byte, err error) {
	// The layout is that of a record-protocol request: a byte, a key, a payload.
	return decodeRequest(msg)
}

// errWatchRefused is what a subscription a holder refused turns into.
var errWatchRefused = errors.New("holder refused the subscription: over its limits")
