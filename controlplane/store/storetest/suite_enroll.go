package storetest

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

func testEnrollRoundTrip(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	hash := newToken(t, s)
	req := enrollReq(hash, "pubkey-1", "web-1")
	d, err := s.Enroll(ctx, req)
	if err != nil {
		t.Fatalf("Enroll() = %v", err)
	}
	if len(d.ID) < 20 || d.ID[:4] != "dev_" {
		t.Errorf("Enroll().ID = %q, want a generated dev_ ID", d.ID)
	}
	want := store.Device{
		ID: d.ID, Name: "web-1", PublicKey: "pubkey-1", OverlayIP: addr("100.96.0.2"),
		Hostname: "web-1", OS: "linux", AgentVersion: "1.0.0", CreatedAt: req.Now,
	}
	equal(t, "Enroll()", d, want)
	got, err := s.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatalf("GetDevice(id) = %v", err)
	}
	equal(t, "GetDevice(id)", got, want)
	got, err = s.GetDevice(ctx, "web-1")
	if err != nil {
		t.Fatalf("GetDevice(name) = %v", err)
	}
	equal(t, "GetDevice(name)", got, want)
	list, err := s.ListDevices(ctx)
	if err != nil {
		t.Fatalf("ListDevices() = %v", err)
	}
	equal(t, "ListDevices()", list, []store.Device{want})

	toks, err := s.ListEnrollTokens(ctx)
	if err != nil {
		t.Fatalf("ListEnrollTokens() = %v", err)
	}
	if len(toks) != 1 || !toks[0].UsedAt.Equal(req.Now) || toks[0].DeviceID != d.ID {
		t.Errorf("ListEnrollTokens() = %+v, want one token used at %v by %s", toks, req.Now, d.ID)
	}

	// A caller-chosen ID is kept.
	req = enrollReq(newToken(t, s), "pubkey-2", "web-2")
	req.Device.ID = "dev_chosen"
	if d, err := s.Enroll(ctx, req); err != nil || d.ID != "dev_chosen" {
		t.Errorf("Enroll(ID=dev_chosen) = %q, %v, want dev_chosen, nil", d.ID, err)
	}
}

func testEnrollTokenInvalid(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	expires := msNow().Add(time.Hour)
	tok, err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: hashOf("expiring"), ExpiresAt: expires})
	if err != nil {
		t.Fatalf("CreateEnrollToken() = %v", err)
	}

	cases := []struct {
		name string
		hash []byte
		now  time.Time
	}{
		{"unknown", hashOf("never issued"), msNow()},
		{"empty", nil, msNow()},
		{"expired", tok.Hash, expires.Add(time.Second)},
		{"at expiry", tok.Hash, expires},
	}
	for i, c := range cases {
		req := enrollReq(c.hash, fmt.Sprintf("key-%d", i), "h")
		req.Now = c.now
		_, err := s.Enroll(ctx, req)
		if err != store.ErrTokenInvalid { // exactly this value: callers must not learn why
			t.Errorf("Enroll(%s token) = %v, want exactly ErrTokenInvalid", c.name, err)
		}
	}

	// Still valid a millisecond before expiry, then consumed.
	req := enrollReq(tok.Hash, "key-ok", "h")
	req.Now = expires.Add(-time.Millisecond)
	if _, err := s.Enroll(ctx, req); err != nil {
		t.Fatalf("Enroll(valid token) = %v", err)
	}
	req = enrollReq(tok.Hash, "key-again", "h2")
	if _, err := s.Enroll(ctx, req); err != store.ErrTokenInvalid {
		t.Errorf("Enroll(used token) = %v, want exactly ErrTokenInvalid", err)
	}
	if ds, _ := s.ListDevices(ctx); len(ds) != 1 {
		t.Errorf("ListDevices() has %d devices, want 1", len(ds))
	}
}

func testEnrollConflicts(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	first := mustEnroll(t, s, "alpha")

	hash := newToken(t, s)
	req := enrollReq(hash, first.PublicKey, "other")
	_, err := s.Enroll(ctx, req)
	wantConflict(t, "Enroll(duplicate public key)", err, "devices", "public_key")

	req = enrollReq(hash, "fresh-key", "other")
	req.Device.Name, req.NameExplicit = "alpha", true
	_, err = s.Enroll(ctx, req)
	wantConflict(t, "Enroll(duplicate explicit name)", err, "devices", "name")

	req.NameExplicit, req.Device.Name = true, ""
	_, err = s.Enroll(ctx, req)
	wantInvalid(t, "Enroll(empty explicit name)", err, "name")

	// Nothing was consumed or allocated by the failures: the same token
	// works and gets the next address.
	toks, err := s.ListEnrollTokens(ctx)
	if err != nil {
		t.Fatalf("ListEnrollTokens() = %v", err)
	}
	for _, tok := range toks {
		if string(tok.Hash) == string(hash) && (!tok.UsedAt.IsZero() || tok.DeviceID != "") {
			t.Errorf("token after failed enrollments = %+v, want unused", tok)
		}
	}
	if ds, _ := s.ListDevices(ctx); len(ds) != 1 {
		t.Errorf("ListDevices() after failed enrollments has %d devices, want 1", len(ds))
	}
	d, err := s.Enroll(ctx, enrollReq(hash, "fresh-key", "other"))
	if err != nil {
		t.Fatalf("Enroll(after failures) = %v", err)
	}
	equal(t, "OverlayIP after failed enrollments", d.OverlayIP, addr("100.96.0.3"))
}

func testEnrollAutoName(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	cases := []struct{ name, hostname, want string }{
		{"", "web", "web"},
		{"", "web", "web-2"},
		{"web", "ignored", "web-3"}, // a suggested, not explicit, name
		{"", "", "device"},
		{"", "", "device-2"},
	}
	for i, c := range cases {
		req := enrollReq(newToken(t, s), fmt.Sprintf("key-%d", i), c.hostname)
		req.Device.Name = c.name
		d, err := s.Enroll(ctx, req)
		if err != nil {
			t.Fatalf("Enroll(name %q, hostname %q) = %v", c.name, c.hostname, err)
		}
		if d.Name != c.want {
			t.Errorf("Enroll(name %q, hostname %q).Name = %q, want %q", c.name, c.hostname, d.Name, c.want)
		}
	}
}

// testEnrollRaceOneToken: 50 enrollments race for one token; exactly one wins.
func testEnrollRaceOneToken(t *testing.T, newURL func(testing.TB) string) {
	const racers = 50
	s := Open(t, newURL(t))
	ctx := t.Context()
	hash := newToken(t, s)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			_, errs[i] = s.Enroll(ctx, enrollReq(hash, fmt.Sprintf("racer-key-%d", i), "racer"))
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch err {
		case nil:
			wins++
		case store.ErrTokenInvalid:
		default:
			t.Errorf("racer %d: Enroll() = %v, want nil or ErrTokenInvalid", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d racers won the token, want exactly 1", wins)
	}
	ds, err := s.ListDevices(ctx)
	if err != nil {
		t.Fatalf("ListDevices() = %v", err)
	}
	if len(ds) != 1 || ds[0].OverlayIP != addr("100.96.0.2") {
		t.Errorf("ListDevices() = %+v, want one device at 100.96.0.2", ds)
	}
}

// testEnrollRaceManyTokens: 50 enrollments with 50 tokens race for
// addresses and for the same automatic name; all win, nothing is shared.
func testEnrollRaceManyTokens(t *testing.T, newURL func(testing.TB) string) {
	const racers = 50
	s := Open(t, newURL(t))
	ctx := t.Context()
	hashes := make([][]byte, racers)
	for i := range hashes {
		hashes[i] = newToken(t, s)
	}
	devs := make([]store.Device, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			devs[i], errs[i] = s.Enroll(ctx, enrollReq(hashes[i], fmt.Sprintf("many-key-%d", i), "host"))
		})
	}
	wg.Wait()
	addrs := map[netip.Addr]bool{}
	names := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: Enroll() = %v", i, err)
			continue
		}
		addrs[devs[i].OverlayIP] = true
		names[devs[i].Name] = true
	}
	// Lowest-free allocation hands out exactly .2 to .51.
	for i := range racers {
		a := netip.AddrFrom4([4]byte{100, 96, 0, byte(2 + i)})
		if !addrs[a] {
			t.Errorf("no device got %v; got %d distinct addresses", a, len(addrs))
		}
	}
	if len(names) != racers {
		t.Errorf("%d distinct names, want %d", len(names), racers)
	}
	if ds, _ := s.ListDevices(ctx); len(ds) != racers {
		t.Errorf("ListDevices() has %d devices, want %d", len(ds), racers)
	}
}

func testIPAM(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	prefix := netip.MustParsePrefix("10.7.0.0/24")
	reserved := []netip.Addr{addr("10.7.0.0"), addr("10.7.0.1"), addr("10.7.0.4")}
	// An engine's address is skipped even when the caller forgot to reserve it.
	if err := s.UpsertEngine(ctx, store.Engine{ID: "eng-1", PublicKey: "engkey", OverlayIP: addr("10.7.0.6")}); err != nil {
		t.Fatalf("UpsertEngine() = %v", err)
	}
	enroll := func(key string) store.Device {
		t.Helper()
		req := enrollReq(newToken(t, s), key, key)
		req.Prefix, req.Reserved = prefix, reserved
		d, err := s.Enroll(ctx, req)
		if err != nil {
			t.Fatalf("Enroll(%s) = %v", key, err)
		}
		return d
	}
	var got []netip.Addr
	var devs []store.Device
	for _, k := range []string{"a", "b", "c", "d"} {
		d := enroll(k)
		devs = append(devs, d)
		got = append(got, d.OverlayIP)
	}
	equal(t, "allocated addresses", got, []netip.Addr{addr("10.7.0.2"), addr("10.7.0.3"), addr("10.7.0.5"), addr("10.7.0.7")})

	if err := s.DeleteDevice(ctx, devs[1].ID); err != nil {
		t.Fatalf("DeleteDevice() = %v", err)
	}
	equal(t, "address after delete", enroll("e").OverlayIP, addr("10.7.0.3"))
	equal(t, "next address", enroll("f").OverlayIP, addr("10.7.0.8"))
}

func testIPAMExhausted(t *testing.T, newURL func(testing.TB) string) {
	s := Open(t, newURL(t))
	ctx := t.Context()
	req := func(hash []byte, key string) store.EnrollRequest {
		r := enrollReq(hash, key, key)
		r.Prefix = netip.MustParsePrefix("10.9.0.0/30")
		r.Reserved = []netip.Addr{addr("10.9.0.0"), addr("10.9.0.1")}
		return r
	}
	var first store.Device
	for i, want := range []string{"10.9.0.2", "10.9.0.3"} {
		d, err := s.Enroll(ctx, req(newToken(t, s), fmt.Sprintf("k%d", i)))
		if err != nil {
			t.Fatalf("Enroll(%d) = %v", i, err)
		}
		equal(t, "OverlayIP", d.OverlayIP, addr(want))
		if i == 0 {
			first = d
		}
	}
	hash := newToken(t, s)
	_, err := s.Enroll(ctx, req(hash, "k-full"))
	wantErr(t, "Enroll(full /30)", err, store.ErrPoolExhausted)

	// The token survived; freeing an address lets it enroll.
	if err := s.DeleteDevice(ctx, first.ID); err != nil {
		t.Fatalf("DeleteDevice() = %v", err)
	}
	d, err := s.Enroll(ctx, req(hash, "k-full"))
	if err != nil {
		t.Fatalf("Enroll(after delete) = %v", err)
	}
	equal(t, "OverlayIP after delete", d.OverlayIP, addr("10.9.0.2"))
}
