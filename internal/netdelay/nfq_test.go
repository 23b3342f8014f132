package netdelay

import (
	"encoding/binary"
	"testing"
)

// packetMsg is a NFQNL_MSG_PACKET as the kernel sends it: a hardware
// header attribute first, then the packet header with id.
func packetMsg(id uint32) []byte {
	hdr := binary.BigEndian.AppendUint32(nil, id)
	hdr = append(hdr, 0x08, 0x00, 3) // hw_protocol IPv4, hook NF_INET_LOCAL_OUT
	return encodeMsg(msgPacket, 0, 0, 18, attr{typ: 9, data: []byte{1, 2, 3, 4, 5, 6}}, attr{attrPacketHdr, hdr})
}

func TestEncodeVerdict(t *testing.T) {
	b := verdictMsg(18, 0x01020304)
	le := binary.LittleEndian
	if int(le.Uint32(b)) != len(b) || len(b) != 16+4+4+8 {
		t.Fatalf("length %d in a %d-byte message", le.Uint32(b), len(b))
	}
	if le.Uint16(b[4:]) != 3<<8|1 || le.Uint16(b[6:]) != flagRequest {
		t.Errorf("type %#x flags %#x", le.Uint16(b[4:]), le.Uint16(b[6:]))
	}
	if binary.BigEndian.Uint16(b[18:]) != 18 {
		t.Errorf("queue %d", binary.BigEndian.Uint16(b[18:]))
	}
	if le.Uint16(b[20:]) != 12 || le.Uint16(b[22:]) != attrVerdictHdr {
		t.Errorf("attribute length %d type %d", le.Uint16(b[20:]), le.Uint16(b[22:]))
	}
	if v, id := binary.BigEndian.Uint32(b[24:]), binary.BigEndian.Uint32(b[28:]); v != verdictAccept || id != 0x01020304 {
		t.Errorf("verdict %d id %#x", v, id)
	}
}

func TestBindMsgsAskForAcks(t *testing.T) {
	for i, b := range bindMsgs(7, 100) {
		flags := binary.LittleEndian.Uint16(b[6:])
		if flags != flagRequest|flagAck || binary.LittleEndian.Uint16(b[4:]) != msgConfig {
			t.Errorf("message %d: type %#x flags %#x", i, binary.LittleEndian.Uint16(b[4:]), flags)
		}
		if len(b)%4 != 0 {
			t.Errorf("message %d: %d bytes, not aligned", i, len(b))
		}
	}
}

func TestParseMessages(t *testing.T) {
	ack := make([]byte, 16+4+16)
	binary.LittleEndian.PutUint32(ack, uint32(len(ack)))
	binary.LittleEndian.PutUint16(ack[4:], nlmsgError)
	refused := append([]byte(nil), ack...)
	binary.LittleEndian.PutUint32(refused[16:], uint32(0xffffffff)) // -EPERM

	var dgram []byte
	dgram = append(dgram, packetMsg(41)...)
	dgram = append(dgram, ack...)
	dgram = append(dgram, packetMsg(42)...)
	dgram = append(dgram, refused...)
	msgs, err := parseMessages(dgram)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
	if !msgs[0].hasID || msgs[0].packetID != 41 || !msgs[2].hasID || msgs[2].packetID != 42 {
		t.Errorf("packets: %+v %+v", msgs[0], msgs[2])
	}
	if msgs[1].typ != nlmsgError || msgs[1].errno != 0 || msgs[3].errno != -1 {
		t.Errorf("acks: %+v %+v", msgs[1], msgs[3])
	}

	if _, err := parseMessages(packetMsg(1)[:30]); err == nil {
		t.Error("a message cut short parsed")
	}
}

func FuzzParseMessages(f *testing.F) {
	f.Add(packetMsg(7))
	f.Add(verdictMsg(1, 2))
	f.Add(append(packetMsg(1), packetMsg(2)...))
	f.Add([]byte{20, 0, 0, 0, 0, 3, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := parseMessages(b)
		if err == nil && len(b) >= nlmsgHdrLen && len(msgs) == 0 {
			t.Fatalf("no messages and no error from %d bytes", len(b))
		}
	})
}
