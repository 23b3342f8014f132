package replication

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	kb "github.com/libp2p/go-libp2p-kbucket"
)

// The store's layout in its datastore, version 2:
//
//	/r/<kad ID in hex>      a record: an entry (encodeEntry)
//	/a/<kad ID in hex>      a record set aside after a long downtime (stale.go), as an entry
//	/dhtnode/store-layout   the layout version, "2"
//
// A record's kad ID is the sha256 of its DHT key (kb.ConvertKey), the
// position of the key in the key space, so the records lie in key-space
// order and a range of the key space is one range of datastore keys
// (Store.EachInRange). Version 1, kad-dht's value store layout, is moved to
// this one when a store opens (storemigrate.go).
const (
	recordPrefix  = "/r/"
	asidePrefix   = "/a/"
	layoutVersion = "2"
)

// layoutKey holds the layout version of the datastore.
var layoutKey = ds.NewKey("/dhtnode/store-layout")

// errBadEntry is an entry that does not decode.
var errBadEntry = errors.New("malformed store entry")

// kadID is the position of a user key in the key space.
func kadID(key string) []byte { return kb.ConvertKey(DHTKey(key)) }

// entryKey is the datastore key under prefix (recordPrefix or asidePrefix)
// of the record with kad ID id.
func entryKey(prefix string, id []byte) ds.Key { return ds.RawKey(entryPos(prefix, id)) }

// entryPos is entryKey as a string, also for a part of a kad ID (a range
// bound): the hex digits keep the byte order.
func entryPos(prefix string, id []byte) string { return prefix + hex.EncodeToString(id) }

// prefixEnd is the first datastore key after every key that starts with prefix.
func prefixEnd(prefix string) string {
	return prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
}

// idOf returns the kad ID of a datastore key under prefix.
func idOf(prefix, k string) ([]byte, error) {
	id, err := hex.DecodeString(k[len(prefix):])
	if err != nil || len(id) != 32 {
		return nil, fmt.Errorf("%w: datastore key %q", errBadEntry, k)
	}
	return id, nil
}

// encodeEntry is what the store keeps of a record: the user key (the wire
// form does not carry it) and the record's wire form (Record.Marshal):
// uvarint key length, key, wire form.
func encodeEntry(key string, wire []byte) []byte {
	buf := make([]byte, 0, binary.MaxVarintLen16+len(key)+len(wire))
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	return append(buf, wire...)
}

// decodeEntry splits an entry into its user key and the record's wire form
// (a slice of entry).
func decodeEntry(entry []byte) (key string, wire []byte, err error) {
	n, l := binary.Uvarint(entry)
	if l <= 0 || n == 0 || n > MaxKeyLen || n > uint64(len(entry)-l) {
		return "", nil, fmt.Errorf("%w: bad key length", errBadEntry)
	}
	end := l + int(n)
	return string(entry[l:end]), entry[end:], nil
}

// entryRecord decodes the entry stored under kad ID id.
func entryRecord(id, entry []byte) (*Record, error) {
	key, wire, err := decodeEntry(entry)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(kadID(key), id) {
		return nil, fmt.Errorf("%w: key %q is filed under another kad ID", errBadEntry, key)
	}
	return Unmarshal(key, wire)
}
