package netdelay

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Constants of nfnetlink_queue (linux/netfilter/nfnetlink_queue.h,
// linux/netfilter/nfnetlink.h, linux/netlink.h).
const (
	nfnlSubsysQueue = 3
	msgPacket       = nfnlSubsysQueue << 8   // NFQNL_MSG_PACKET (0)
	msgVerdict      = nfnlSubsysQueue<<8 | 1 // NFQNL_MSG_VERDICT
	msgConfig       = nfnlSubsysQueue<<8 | 2 // NFQNL_MSG_CONFIG

	attrPacketHdr  = 1 // NFQA_PACKET_HDR
	attrVerdictHdr = 2 // NFQA_VERDICT_HDR

	attrCfgCmd      = 1 // NFQA_CFG_CMD
	attrCfgParams   = 2 // NFQA_CFG_PARAMS
	attrCfgQueueLen = 3 // NFQA_CFG_QUEUE_MAXLEN
	attrCfgMask     = 4 // NFQA_CFG_MASK
	attrCfgFlags    = 5 // NFQA_CFG_FLAGS

	cfgCmdBind   = 1 // NFQNL_CFG_CMD_BIND
	cfgCmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND
	copyMeta     = 1 // NFQNL_COPY_META
	cfgFailOpen  = 1 // NFQA_CFG_F_FAIL_OPEN

	verdictAccept = 1 // NF_ACCEPT

	nlmsgError = 2 // NLMSG_ERROR
	nlmsgDone  = 3 // NLMSG_DONE

	flagRequest = 0x1 // NLM_F_REQUEST
	flagAck     = 0x4 // NLM_F_ACK

	nlmsgHdrLen = 16
	nfgenLen    = 4
	nlaHdrLen   = 4
	nlaTypeMask = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// errTruncated reports a message shorter than its headers say.
var errTruncated = errors.New("netdelay: truncated netlink message")

// attr is one netlink attribute to encode.
type attr struct {
	typ  uint16
	data []byte
}

// align4 rounds n up to netlink's 4-byte alignment.
func align4(n int) int { return (n + 3) &^ 3 }

// encodeMsg builds one nfnetlink message: the netlink header, the nfgenmsg
// header addressed to queue, and attrs. Netlink headers are in host byte
// order (little-endian on every machine this runs on); attribute payloads
// are big-endian, as nfnetlink_queue expects.
func encodeMsg(typ, flags uint16, seq uint32, queue uint16, attrs ...attr) []byte {
	n := nlmsgHdrLen + nfgenLen
	for _, a := range attrs {
		n += align4(nlaHdrLen + len(a.data))
	}
	b := make([]byte, n)
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(n))
	le.PutUint16(b[4:], typ)
	le.PutUint16(b[6:], flags)
	le.PutUint32(b[8:], seq)
	// b[12:16]: port ID 0, the kernel.
	b[16] = 0 // nfgen_family AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:], queue)
	off := nlmsgHdrLen + nfgenLen
	for _, a := range attrs {
		le.PutUint16(b[off:], uint16(nlaHdrLen+len(a.data)))
		le.PutUint16(b[off+2:], a.typ)
		copy(b[off+nlaHdrLen:], a.data)
		off += align4(nlaHdrLen + len(a.data))
	}
	return b
}

// bindMsgs are the configuration requests that bind queue, ask for packet
// metadata only, allow maxLen waiting packets and make a full queue accept
// packets instead of dropping them.
func bindMsgs(queue uint16, maxLen uint32) [][]byte {
	be := binary.BigEndian
	cmd := []byte{cfgCmdBind, 0, 0, 0} // command, pad, pf (ignored since Linux 3.8)
	params := make([]byte, 5)          // copy_range (0), copy_mode
	params[4] = copyMeta
	qlen := be.AppendUint32(nil, maxLen)
	flags := be.AppendUint32(nil, cfgFailOpen)
	return [][]byte{
		encodeMsg(msgConfig, flagRequest|flagAck, 1, queue, attr{attrCfgCmd, cmd}),
		encodeMsg(msgConfig, flagRequest|flagAck, 2, queue, attr{attrCfgParams, params}),
		encodeMsg(msgConfig, flagRequest|flagAck, 3, queue, attr{attrCfgQueueLen, qlen}),
		encodeMsg(msgConfig, flagRequest|flagAck, 4, queue, attr{attrCfgFlags, flags}, attr{attrCfgMask, flags}),
	}
}

// unbindMsg asks the kernel to drop the binding of queue.
func unbindMsg(queue uint16) []byte {
	return encodeMsg(msgConfig, flagRequest, 5, queue, attr{attrCfgCmd, []byte{cfgCmdUnbind, 0, 0, 0}})
}

// verdictMsg accepts packet id of queue.
func verdictMsg(queue uint16, id uint32) []byte {
	v := binary.BigEndian.AppendUint32(nil, verdictAccept)
	v = binary.BigEndian.AppendUint32(v, id)
	return encodeMsg(msgVerdict, flagRequest, 0, queue, attr{attrVerdictHdr, v})
}

// message is what the Delayer needs of one message from the kernel.
type message struct {
	typ      uint16
	packetID uint32 // for msgPacket
	hasID    bool
	errno    int32 // for nlmsgError: 0 is an acknowledgement, else -errno
}

// parseMessages splits a datagram from the kernel into its messages.
func parseMessages(b []byte) ([]message, error) {
	var out []message
	le := binary.LittleEndian
	for len(b) >= nlmsgHdrLen {
		n := int(le.Uint32(b[0:]))
		if n < nlmsgHdrLen || n > len(b) {
			return out, errTruncated
		}
		m := message{typ: le.Uint16(b[4:])}
		body := b[nlmsgHdrLen:n]
		switch m.typ {
		case nlmsgError:
			if len(body) < 4 {
				return out, errTruncated
			}
			m.errno = int32(le.Uint32(body))
		case msgPacket:
			id, ok, err := packetID(body)
			if err != nil {
				return out, err
			}
			m.packetID, m.hasID = id, ok
		}
		out = append(out, m)
		b = b[min(align4(n), len(b)):]
	}
	return out, nil
}

// packetID finds NFQA_PACKET_HDR in a packet message's body (nfgenmsg and
// attributes) and returns the packet's ID.
func packetID(body []byte) (uint32, bool, error) {
	if len(body) < nfgenLen {
		return 0, false, errTruncated
	}
	b := body[nfgenLen:]
	le := binary.LittleEndian
	for len(b) >= nlaHdrLen {
		n := int(le.Uint16(b[0:]))
		if n < nlaHdrLen || n > len(b) {
			return 0, false, fmt.Errorf("netdelay: bad attribute length %d", n)
		}
		if le.Uint16(b[2:])&nlaTypeMask == attrPacketHdr {
			if n < nlaHdrLen+4 {
				return 0, false, errTruncated
			}
			return binary.BigEndian.Uint32(b[nlaHdrLen:]), true, nil
		}
		b = b[min(align4(n), len(b)):]
	}
	return 0, false, nil
}
