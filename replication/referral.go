package replication

import (
	"encoding/binary"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// A referral is a non-holder's answer to a holder read or write: the peers
// it knows nearer the key, with their addresses, so that the asker can go to
// the key's holders without a separate lookup. Its wire form is the uvarint
// peer count, then per peer the length-prefixed peer ID, the uvarint address
// count and the length-prefixed address bytes.

// Bounds on a referral a peer sends.
const (
	maxReferralPeers = 32
	maxReferralAddrs = 16
)

// errNotHolder is the error of a holder request answered by a referral.
type errNotHolder struct {
	peer   peer.ID
	nearer []peer.ID
}

func (e *errNotHolder) Error() string {
	return fmt.Sprintf("%s is not a holder (it names %d nearer peers)", e.peer.ShortString(), len(e.nearer))
}

// encodeReferral appends the wire form of peers to b.
func encodeReferral(b []byte, peers []peer.AddrInfo) []byte {
	b = binary.AppendUvarint(b, uint64(len(peers)))
	for _, ai := range peers {
		b = appendBytes(b, []byte(ai.ID))
		b = binary.AppendUvarint(b, uint64(len(ai.Addrs)))
		for _, a := range ai.Addrs {
			b = appendBytes(b, a.Bytes())
		}
	}
	return b
}

// decodeReferral parses a referral, refusing malformed peer IDs and
// addresses, oversized lists and trailing bytes.
func decodeReferral(b []byte) ([]peer.AddrInfo, error) {
	d := decoder{buf: b}
	n := d.uvarint()
	if n > maxReferralPeers {
		return nil, fmt.Errorf("referral of %d peers, the limit is %d", n, maxReferralPeers)
	}
	peers := make([]peer.AddrInfo, 0, n)
	for range n {
		idBytes, na := d.bytes(len(b)), d.uvarint()
		if d.err != nil {
			return nil, fmt.Errorf("referral: %w", d.err)
		}
		id, err := peer.IDFromBytes(idBytes)
		if err != nil {
			return nil, fmt.Errorf("referral peer ID: %w", err)
		}
		if na > maxReferralAddrs {
			return nil, fmt.Errorf("referral of %d addresses for one peer, the limit is %d", na, maxReferralAddrs)
		}
		ai := peer.AddrInfo{ID: id, Addrs: make([]ma.Multiaddr, 0, na)}
		for range na {
			a, err := ma.NewMultiaddrBytes(d.bytes(len(b)))
			if d.err != nil {
				return nil, fmt.Errorf("referral: %w", d.err)
			}
			if err != nil {
				return nil, fmt.Errorf("referral address: %w", err)
			}
			ai.Addrs = append(ai.Addrs, a)
		}
		peers = append(peers, ai)
	}
	if d.err != nil {
		return nil, fmt.Errorf("referral: %w", d.err)
	}
	if len(d.buf) > 0 {
		return nil, fmt.Errorf("referral: %d trailing bytes", len(d.buf))
	}
	return peers, nil
}
