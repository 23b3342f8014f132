package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// maxSavedPeers caps the peers file.
const maxSavedPeers = 200

// savedPeer is one entry of the peers file.
type savedPeer struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

// loadPeers reads a peers file. A missing file gives no peers and no error;
// a corrupt one gives an error. Entries that do not parse are skipped.
func loadPeers(path string) ([]peer.AddrInfo, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var entries []savedPeer
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	out := make([]peer.AddrInfo, 0, min(len(entries), maxSavedPeers))
	for _, e := range entries {
		if len(out) == maxSavedPeers {
			break
		}
		id, err := peer.Decode(e.PeerID)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range e.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		if len(ai.Addrs) > 0 {
			out = append(out, ai)
		}
	}
	return out, nil
}

// writePeers writes peers to path atomically (temporary file, then rename),
// with mode 0600.
func writePeers(path string, peers []peer.AddrInfo) (err error) {
	entries := make([]savedPeer, 0, len(peers))
	for _, ai := range peers {
		e := savedPeer{PeerID: ai.ID.String()}
		for _, a := range ai.Addrs {
			e.Addrs = append(e.Addrs, a.String())
		}
		entries = append(entries, e)
	}
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// rtPeers returns up to maxSavedPeers routing-table peers with their
// peerstore addresses (peers without any are left out).
func (m *Manager) rtPeers() []peer.AddrInfo {
	ps := m.h.Peerstore()
	var out []peer.AddrInfo
	for _, p := range m.rt.ListPeers() {
		if len(out) == maxSavedPeers {
			break
		}
		if addrs := ps.Addrs(p); len(addrs) > 0 {
			out = append(out, peer.AddrInfo{ID: p, Addrs: addrs})
		}
	}
	return out
}

// savePeers writes the current RT peers to PeersFile. An empty table is not
// written, so a node that lost its peers keeps the list it can rejoin from.
func (m *Manager) savePeers() error {
	peers := m.rtPeers()
	if len(peers) == 0 {
		return nil
	}
	if err := writePeers(m.cfg.PeersFile, peers); err != nil {
		return fmt.Errorf("save peers to %s: %w", m.cfg.PeersFile, err)
	}
	m.savedMu.Lock()
	m.saved = peers
	m.savedMu.Unlock()
	return nil
}

// saveLoop rewrites PeersFile every SaveInterval.
func (m *Manager) saveLoop() {
	ticker := time.NewTicker(m.cfg.SaveInterval)
	defer ticker.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-ticker.C:
			if err := m.savePeers(); err != nil {
				m.logger.Warn("saving peers failed", "error", err)
			}
		}
	}
}
