package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// storageCheckTimeout bounds the storage probe of one /readyz.
const storageCheckTimeout = 2 * time.Second

// storageProbeKey is read by the /readyz storage probe; it is never written.
var storageProbeKey = ds.NewKey("/dhtnode/readyz-probe")

// openLevelDB opens the LevelDB store at path and reads every entry once.
// LevelDB's own open checks only its manifest and journal, and the
// datastore's queries end silently at a damaged table, so without the scan
// a truncated or overwritten table would pass for an empty or smaller store.
// A damaged store is logged as an error and recovered: LevelDB rebuilds it
// from what is readable and drops the rest, which the other holders then
// restore through repair. It returns a note on what was recovered, or "".
func openLevelDB(path string, opts *leveldb.Options, logger *slog.Logger) (*leveldb.Datastore, string, error) {
	d, err := leveldb.NewDatastore(path, opts)
	if err != nil {
		return nil, "", fmt.Errorf("open datastore %s: %w", path, err)
	}
	readable, scanErr := scanLevelDB(d.DB)
	if scanErr == nil {
		return d, "", nil
	}
	logger.Error("DATASTORE CORRUPTED: a table cannot be read; recovering what is readable, "+
		"the other holders restore the rest through repair", "path", path, "error", scanErr, "entries_read_before_damage", readable)
	if err := d.Close(); err != nil {
		return nil, "", fmt.Errorf("close corrupted datastore %s: %w", path, err)
	}
	o := opt.Options(*opts)
	db, err := goleveldb.RecoverFile(path, &o)
	if err != nil {
		return nil, "", fmt.Errorf("datastore %s is corrupted (%v) and cannot be recovered: %w; "+
			"move it away to start empty (the other holders refill this node's records)", path, scanErr, err)
	}
	if err := db.Close(); err != nil {
		return nil, "", fmt.Errorf("close recovered datastore %s: %w", path, err)
	}
	if d, err = leveldb.NewDatastore(path, opts); err != nil {
		return nil, "", fmt.Errorf("open recovered datastore %s: %w", path, err)
	}
	entries, err := scanLevelDB(d.DB)
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("datastore %s is still corrupted after recovery: %w; "+
			"move it away to start empty (the other holders refill this node's records)", path, err), d.Close())
	}
	note := fmt.Sprintf("recovered from corruption at start (%v); %d entries kept, the rest come back through repair", scanErr, entries)
	logger.Error("DATASTORE RECOVERED: records lost with the damaged tables are missing until repair restores them",
		"path", path, "entries", entries)
	return d, note, nil
}

// scanLevelDB reads every entry of db with every checksum verified, and
// returns how many it read and the first error.
func scanLevelDB(db *goleveldb.DB) (int, error) {
	it := db.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictAll})
	defer it.Release()
	n := 0
	for it.Next() {
		n++
	}
	return n, it.Error()
}

// checkStorage reads a key from the datastore, to tell /readyz whether
// storage still answers.
func (n *Node) checkStorage(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, storageCheckTimeout)
	defer cancel()
	if _, err := n.dstore.Has(ctx, storageProbeKey); err != nil {
		return err
	}
	return nil
}
