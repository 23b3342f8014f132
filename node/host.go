package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/sec"
	basichost "github.com/libp2p/go-libp2p/p2p/host/basic"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/host/observedaddrs"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	basicconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	quicgo "github.com/quic-go/quic-go"
	"golang.org/x/crypto/hkdf"

	"github.com/dhtnode/dhtnode/config"
)

// newHost assembles the node's libp2p host from go-libp2p's parts: TCP and
// (without a private-network key) QUIC, Noise and TLS, yamux, the default
// resource limits with cfg's limits per source address (none on addresses in
// unlimited), a connection manager, identify and ping. It does what
// libp2p.New does for these options, without importing the libp2p package,
// which links every transport it knows (WebRTC, WebTransport, WebSocket,
// relays): a sixth of the binary, resident in every node.
// gater may be nil.
func newHost(cfg config.Config, priv crypto.PrivKey, gater connmgr.ConnectionGater, unlimited []netip.Prefix) (_ host.Host, err error) {
	var psk pnet.PSK
	if cfg.Security.PSKFile != "" {
		if psk, err = readPSK(cfg.Security.PSKFile); err != nil {
			return nil, err
		}
	}
	var undo closers
	defer func() {
		if err != nil {
			undo.close()
		}
	}()

	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	peers, err := pstoremem.NewPeerstore()
	if err != nil {
		return nil, err
	}
	undo.add(peers.Close)
	if err := peers.AddPrivKey(id, priv); err != nil {
		return nil, err
	}
	if err := peers.AddPubKey(id, priv.GetPublic()); err != nil {
		return nil, err
	}
	limits, err := newResourceManager(cfg.Limits, unlimited)
	if err != nil {
		return nil, err
	}
	undo.add(limits.Close)
	conns, err := basicconnmgr.NewConnManager(connLow, connHigh)
	if err != nil {
		return nil, err
	}
	undo.add(conns.Close)

	bus := eventbus.NewBus()
	swarmOpts := []swarm.Option{swarm.WithResourceManager(limits), swarm.WithDialRanker(preferTCP)}
	if gater != nil {
		swarmOpts = append(swarmOpts, swarm.WithConnectionGater(gater))
	}
	sw, err := swarm.NewSwarm(id, peers, bus, swarmOpts...)
	if err != nil {
		return nil, err
	}
	undo.add(sw.Close)

	muxers := []upgrader.StreamMuxer{{ID: yamux.ID, Muxer: yamux.DefaultTransport}}
	noiseSec, err := noise.New(noise.ID, priv, muxers)
	if err != nil {
		return nil, err
	}
	tlsSec, err := tls.New(tls.ID, priv, muxers)
	if err != nil {
		return nil, err
	}
	up, err := upgrader.New([]sec.SecureTransport{noiseSec, tlsSec}, muxers, psk, limits, gater)
	if err != nil {
		return nil, err
	}
	tcpTransport, err := tcp.NewTCPTransport(up, limits, nil)
	if err != nil {
		return nil, err
	}
	if err := sw.AddTransport(tcpTransport); err != nil {
		return nil, err
	}
	var quicConns *quicreuse.ConnManager
	if psk == nil { // QUIC has its own encryption and cannot use a private-network key
		if quicConns, err = newQUICConns(priv, limits); err != nil {
			return nil, err
		}
		undo.add(quicConns.Close)
		quicTransport, err := quic.NewTransport(priv, quicConns, nil, gater, limits)
		if err != nil {
			return nil, err
		}
		if err := sw.AddTransport(quicTransport); err != nil {
			return nil, err
		}
	}

	observed, err := observedaddrs.NewManager(bus, sw)
	if err != nil {
		return nil, err
	}
	undo.add(observed.Close)
	h, err := basichost.NewHost(sw, &basichost.HostOpts{
		EventBus:             bus,
		ConnManager:          conns,
		EnablePing:           true,
		UserAgent:            "dhtnode/" + Version,
		ObservedAddrsManager: observed,
	})
	if err != nil {
		return nil, err
	}
	// From here the host closes the swarm, peerstore, connection and
	// resource managers; p2pHost closes the rest after it.
	whole := &p2pHost{BasicHost: h, observed: observed, quicConns: quicConns}
	undo = closers{whole.Close}

	// Every address must work: a node that silently lost its QUIC or TCP
	// listener is reachable only by half of its peers.
	if err := checkTCPPortsFree(cfg.Listen); err != nil {
		return nil, err
	}
	for _, a := range cfg.Listen {
		if err := sw.Listen(a); err != nil {
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
	}
	observed.Start(sw)
	h.Start()
	return whole, nil
}

// p2pHost is the node's host: a basic host, plus the parts it does not
// close itself.
type p2pHost struct {
	*basichost.BasicHost
	observed  *observedaddrs.Manager
	quicConns *quicreuse.ConnManager // nil without QUIC
}

// Close closes the host, then the observed-address manager and the QUIC
// sockets its transport used.
func (h *p2pHost) Close() error {
	err := errors.Join(h.BasicHost.Close(), h.observed.Close())
	if h.quicConns != nil {
		err = errors.Join(err, h.quicConns.Close())
	}
	return err
}

// newQUICConns opens QUIC's socket manager with keys derived from the node's
// identity, so stateless resets and address tokens survive restarts, and
// with the resource manager asked before any handshake work.
func newQUICConns(priv crypto.PrivKey, limits network.ResourceManager) (*quicreuse.ConnManager, error) {
	var resetKey quicgo.StatelessResetKey
	var tokenKey quicgo.TokenGeneratorKey
	if err := deriveKey(priv, "dhtnode quic stateless reset key", resetKey[:]); err != nil {
		return nil, err
	}
	if err := deriveKey(priv, "dhtnode quic token key", tokenKey[:]); err != nil {
		return nil, err
	}
	return quicreuse.NewConnManager(resetKey, tokenKey,
		quicreuse.ConnContext(func(ctx context.Context, info *quicgo.ClientInfo) (context.Context, error) {
			addr, err := quicreuse.ToQuicMultiaddr(info.RemoteAddr, quicgo.Version1)
			if err != nil {
				addr = nil // the resource manager still decides
			}
			scope, err := limits.OpenConnection(network.DirInbound, false, addr)
			if err != nil {
				return ctx, err
			}
			context.AfterFunc(ctx, scope.Done)
			return network.WithConnManagementScope(ctx, scope), nil
		}),
		quicreuse.VerifySourceAddress(func(addr net.Addr) bool { return limits.VerifySourceAddress(addr) }),
	)
}

// deriveKey fills out with an HKDF-SHA256 expansion of the node's private key.
func deriveKey(priv crypto.PrivKey, info string, out []byte) error {
	raw, err := priv.Raw()
	if err != nil {
		return err
	}
	_, err = io.ReadFull(hkdf.New(sha256.New, raw, nil, []byte(info)), out)
	return err
}

// closers closes what a half-built host already opened, newest first.
type closers []func() error

func (c *closers) add(f func() error) { *c = append(*c, f) }

func (c closers) close() {
	for i := len(c) - 1; i >= 0; i-- {
		_ = c[i]()
	}
}

func readPSK(path string) (pnet.PSK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("security.psk_file: %w", err)
	}
	defer f.Close()
	psk, err := pnet.DecodeV1PSK(f)
	if err != nil {
		return nil, fmt.Errorf("security.psk_file %s: %w", path, err)
	}
	return psk, nil
}
