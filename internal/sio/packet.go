package sio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Engine.IO v4 packet types (the first byte of a packet).
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// recordSeparator joins the packets of one HTTP long-polling payload.
const recordSeparator = '\x1e'

// Socket.IO v5 packet types (the first byte of an Engine.IO message).
const (
	sioConnect      = 0
	sioDisconnect   = 1
	sioEvent        = 2
	sioAck          = 3
	sioConnectError = 4
	sioBinaryEvent  = 5
	sioBinaryAck    = 6
)

// maxAckID bounds an acknowledgement id (the reference client counts from
// 0 and never comes near it).
const maxAckID = 1<<31 - 1

var errBadPacket = errors.New("sio: malformed packet")

// splitPayload splits a long-polling payload into its Engine.IO packets.
// Binary packets ("b" + base64) are refused: nothing this server serves
// sends binary.
func splitPayload(body []byte) ([][]byte, error) {
	if len(body) == 0 {
		return nil, errBadPacket
	}
	parts := bytes.Split(body, []byte{recordSeparator})
	for _, p := range parts {
		if len(p) == 0 || p[0] < eioOpen || p[0] > eioNoop {
			return nil, errBadPacket
		}
	}
	return parts, nil
}

// packet is one Socket.IO packet.
type packet struct {
	typ       int
	namespace string
	// ackID is the acknowledgement id, -1 when the packet has none.
	ackID int64
	// data is the JSON payload: the connect packet's auth object, the
	// event's array [name, args...], the ack's array of answers.
	data json.RawMessage
}

// decodePacket parses a Socket.IO v5 packet, the text of an Engine.IO
// message: <type>[<namespace>,][<ack id>][<JSON>]. Binary packets, whose
// attachments would arrive as separate packets, are refused.
func decodePacket(s []byte) (packet, error) {
	p := packet{ackID: -1, namespace: "/"}
	if len(s) == 0 || s[0] < '0' || s[0] > '6' {
		return p, errBadPacket
	}
	p.typ = int(s[0] - '0')
	if p.typ == sioBinaryEvent || p.typ == sioBinaryAck {
		return p, errBadPacket
	}
	rest := s[1:]
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			// A namespace alone ends the packet ("41/storage").
			i = len(rest)
		}
		p.namespace = string(rest[:i])
		rest = rest[min(i+1, len(rest)):]
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > 0 {
		id, err := strconv.ParseInt(string(rest[:n]), 10, 64)
		if err != nil || id > maxAckID {
			return p, errBadPacket
		}
		p.ackID = id
		rest = rest[n:]
	}
	if len(rest) > 0 {
		if !json.Valid(rest) {
			return p, errBadPacket
		}
		p.data = json.RawMessage(rest)
	}
	switch p.typ {
	case sioEvent, sioAck:
		var arr []json.RawMessage
		if json.Unmarshal(p.data, &arr) != nil || (p.typ == sioEvent && len(arr) == 0) {
			return p, errBadPacket
		}
		if p.typ == sioEvent {
			var name string
			if json.Unmarshal(arr[0], &name) != nil {
				return p, errBadPacket
			}
		}
	case sioConnect:
		if len(p.data) > 0 && p.data[0] != '{' {
			return p, errBadPacket
		}
	}
	return p, nil
}

// encode renders the packet as the text of an Engine.IO message.
func (p packet) encode() []byte {
	var b bytes.Buffer
	b.WriteByte(eioMessage)
	b.WriteByte(byte('0' + p.typ))
	if p.namespace != "/" && p.namespace != "" {
		b.WriteString(p.namespace)
		b.WriteByte(',')
	}
	if p.ackID >= 0 {
		b.WriteString(strconv.FormatInt(p.ackID, 10))
	}
	b.Write(p.data)
	return b.Bytes()
}

// eventName returns an event packet's name and its arguments.
func (p packet) event() (string, []json.RawMessage) {
	var arr []json.RawMessage
	if json.Unmarshal(p.data, &arr) != nil || len(arr) == 0 {
		return "", nil
	}
	var name string
	json.Unmarshal(arr[0], &name)
	return name, arr[1:]
}
