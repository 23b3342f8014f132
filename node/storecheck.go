package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/dhtnode/dhtnode/replication"
)

// storageCheckTimeout bounds the storage probe of one /readyz.
const storageCheckTimeout = 2 * time.Second

// storageProbeKey is read by the /readyz storage probe; it is never written.
var storageProbeKey = ds.NewKey("/dhtnode/readyz-probe")

// openLevelDB opens the LevelDB store at path and the record store in it
// (open): NewStore reads every entry once, with every checksum verified.
// LevelDB's own open checks only its manifest and journal, and iterators
// end silently at a damaged table, so without that scan a truncated or
// overwritten table would pass for an empty or smaller store. A damaged
// store is logged as an error and salvaged: every readable entry is copied
// into a new store, the damaged one is moved aside, and the other holders
// restore what was lost through repair. (LevelDB's own RecoverFile is not
// used: in goleveldb v1.0.0 it rebuilds a partly damaged table with an index
// that panics on the first range query.) It returns a note on what was
// salvaged, or "".
func openLevelDB(path string, opts *leveldb.Options, logger *slog.Logger, open func(ds.Batching) (*replication.Store, error)) (*leveldb.Datastore, *replication.Store, string, error) {
	d, err := leveldb.NewDatastore(path, opts)
	if err != nil {
		return nil, nil, "", fmt.Errorf("open datastore %s: %w", path, err)
	}
	store, damage := open(d)
	switch {
	case damage == nil:
		return d, store, "", nil
	case !errors.Is(damage, replication.ErrStoreDamaged):
		return nil, nil, "", errors.Join(fmt.Errorf("open record store in %s: %w", path, damage), d.Close())
	}
	logger.Error("DATASTORE CORRUPTED: a table cannot be read; copying what is readable to a new store, "+
		"the other holders restore the rest through repair", "path", path, "error", damage)
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	kept, err := salvage(d, path, aside, opts)
	if err != nil {
		return nil, nil, "", fmt.Errorf("datastore %s is corrupted (%v) and could not be salvaged: %w; "+
			"move it away to start empty (the other holders refill this node's records)", path, damage, err)
	}
	if d, err = leveldb.NewDatastore(path, opts); err != nil {
		return nil, nil, "", fmt.Errorf("open salvaged datastore %s: %w", path, err)
	}
	if store, err = open(d); err != nil {
		return nil, nil, "", errors.Join(fmt.Errorf("salvaged datastore %s: %w", path, err), d.Close())
	}
	logger.Error("DATASTORE SALVAGED: records in the damaged tables are missing until repair restores them; "+
		"delete the damaged copy once you no longer need it", "path", path, "entries_kept", kept, "damaged_copy", aside)
	note := fmt.Sprintf("recovered from corruption at start (%v): %d entries kept, the rest come back through repair; damaged copy in %s",
		damage, kept, aside)
	return d, store, note, nil
}

// salvage copies every readable entry of the damaged store d (at path) into
// a new store, closes d, moves it to aside and puts the new store at path.
// It returns how many entries it kept.
func salvage(d *leveldb.Datastore, path, aside string, opts *leveldb.Options) (int, error) {
	tmp := path + ".salvage"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, errors.Join(err, d.Close())
	}
	o := opt.Options(*opts)
	fresh, err := goleveldb.OpenFile(tmp, &o)
	if err != nil {
		return 0, errors.Join(err, d.Close())
	}
	// Without StrictReader the iterator skips damaged blocks and tables.
	it := d.DB.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictOverride | opt.StrictBlockChecksum})
	kept := 0
	var batch goleveldb.Batch
	for err == nil && it.Next() {
		batch.Put(it.Key(), it.Value())
		kept++
		if batch.Len() >= 256 {
			err = fresh.Write(&batch, &opt.WriteOptions{Sync: true})
			batch.Reset()
		}
	}
	if err == nil {
		err = it.Error()
	}
	if err == nil {
		err = fresh.Write(&batch, &opt.WriteOptions{Sync: true})
	}
	it.Release()
	err = errors.Join(err, fresh.Close(), d.Close())
	if err == nil {
		err = os.Rename(path, aside)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return kept, err
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
