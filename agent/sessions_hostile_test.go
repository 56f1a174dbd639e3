package agent_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/warrenhq/warren/controlplane/wire"
	"github.com/warrenhq/warren/protocols/ssh/sshtest"
	"github.com/warrenhq/warren/protocols/stream"
)

// hostileChunks are outputs a hostile or broken server may send.
func hostileChunks() [][]byte {
	rng := rand.New(rand.NewPCG(7, 8))
	junk := make([]byte, 256<<10)
	for i := range junk {
		junk[i] = byte(rng.UintN(256))
	}
	invalidUTF8 := make([]byte, 256<<10)
	for i := range invalidUTF8 {
		invalidUTF8[i] = 0x80 + byte(rng.UintN(0x80))
	}
	return [][]byte{
		bytes.Repeat([]byte("A"), 1<<20),        // a 1 MiB line
		make([]byte, 1<<20),                     // a NUL flood
		invalidUTF8,                             // invalid UTF-8
		[]byte(strings.Repeat("\x1b[", 100000)), // CSI storm, never finished
		[]byte(strings.Repeat("\x1b["+strings.Repeat("9", 500)+"m", 500)), // huge parameters
		[]byte("\x1b]0;" + strings.Repeat("t", 1<<20)),                    // unterminated OSC title
		[]byte("\x1bP" + strings.Repeat("q", 256<<10)),                    // unterminated DCS
		[]byte(strings.Repeat("\x1b[?1049h\x1b[?1049l", 20000)),           // alternate screen flapping
		[]byte("\x1b[999999999;999999999H\x1b[99999999@\x1b[99999999L\x1b[99999999M\x1b[5;2r\x1b#8\x1b[99999999S\x1b[99999999T"),
		[]byte(strings.Repeat("\xe2\x82", 100000)), // truncated UTF-8 sequences
		junk,
		[]byte("\x1b\\\x07\x1b[0m\x1bc\r\n"),
	}
}

// hostileShell sends hostileChunks over and over until it has sent 6 MiB,
// then says so and waits.
func hostileShell(sh *sshtest.Shell) {
	sent := 0
	for sent < 6<<20 {
		for _, c := range hostileChunks() {
			if _, err := sh.Write(c); err != nil {
				return
			}
			sent += len(c)
		}
	}
	sh.Write([]byte("\x1bc\r\nHOSTILE-DONE\r\n"))
	<-sh.Done()
}

// TestSessionHostileServer: a server that sends a 1 MiB line, NUL floods,
// invalid UTF-8 and escape storms crashes nothing and stalls no other
// session; its viewers get output and snapshots within the protocol.
func TestSessionHostileServer(t *testing.T) {
	f := newFixture(t)
	evil := sshtest.Start(t, sshtest.Options{User: "u", Password: "p", Shell: hostileShell})
	f.addService("evil", 2223, evil.Addr)
	f.open(wire.OpenSession{ID: "evil", Service: "evil", Username: "u", Password: "p", BufferSize: wire.MinBufferSize})
	ev := f.attach("evil", "role=driver")
	f.open(f.keyOpen("good"))
	g := f.attach("good", "role=driver")

	for i := range 10 {
		g.typeText(fmt.Sprintf("echo ok-$((%d+1000))\r", i))
		g.waitOutput(fmt.Sprintf("ok-%d", i+1000))
	}
	ev.waitFor("hostile output", func([]byte) bool { return ev.offset > 4<<20 })
	late := f.attach("evil", "role=observer")
	late.waitFor("a snapshot", func([]byte) bool { return late.snapshots > 0 })
	g.typeText("echo still-$((2*21))\r")
	g.waitOutput("still-42")

	for _, v := range []*viewer{ev, late} {
		v.waitFor("the end of the hostile output", func([]byte) bool {
			return bytes.Contains(v.stream[max(0, len(v.stream)-64<<10):], []byte("HOSTILE-DONE"))
		})
		if _, _, _, _, _, err := v.state(); err != nil {
			t.Errorf("protocol error on a hostile session's viewer: %v", err)
		}
	}
	var list wire.SessionList
	if code, _ := f.do(http.MethodGet, wire.SessionsPath, nil, &list); code != 200 || len(list.Sessions) != 2 {
		t.Fatalf("GET /v1/sessions = %d %+v", code, list)
	}
	if code, _ := f.do(http.MethodDelete, wire.SessionsPath+"/evil", nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE evil = %d", code)
	}
	ev.waitControl("ended", isState(stream.StateEnded))
	if info := f.info("good"); info.State != wire.SessionRunning {
		t.Errorf("good session = %+v", info)
	}
}
