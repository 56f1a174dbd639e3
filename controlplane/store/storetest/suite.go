package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/warrenhq/warren/controlplane/store"
)

// Run is the conformance suite every backend must pass. newURL returns the
// URL of a fresh database (empty or already migrated) for one test, as
// SQLiteURL and PostgresURL do; each subtest gets its own.
func Run(t *testing.T, newURL func(t testing.TB) string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newURL func(t testing.TB) string)
	}{
		{"Engines", testEngines},
		{"EnrollTokens", testEnrollTokens},
		{"EnrollRoundTrip", testEnrollRoundTrip},
		{"EnrollTokenInvalid", testEnrollTokenInvalid},
		{"EnrollConflicts", testEnrollConflicts},
		{"EnrollAutoName", testEnrollAutoName},
		{"EnrollRaceOneToken", testEnrollRaceOneToken},
		{"EnrollRaceManyTokens", testEnrollRaceManyTokens},
		{"IPAM", testIPAM},
		{"IPAMExhausted", testIPAMExhausted},
		{"Devices", testDevices},
		{"DeviceIDBeforeName", testDeviceIDBeforeName},
		{"Services", testServices},
		{"ServiceValidation", testServiceValidation},
		{"Publishes", testPublishes},
		{"Cascade", testCascade},
		{"Orgs", testOrgs},
		{"Users", testUsers},
		{"UpsertRace", testUpsertRace},
		{"Members", testMembers},
		{"Groups", testGroups},
		{"GroupCycleRace", testGroupCycleRace},
		{"Folders", testFolders},
		{"FolderCycleRace", testFolderCycleRace},
		{"OrgDevices", testOrgDevices},
		{"Credentials", testCredentials},
		{"IdPs", testIdPs},
		{"LocalUsers", testLocalUsers},
		{"Redaction", testRedaction},
		{"SetupToken", testSetupToken},
		{"SetupTokenRace", testSetupTokenRace},
		{"Sessions", testSessions},
		{"APITokens", testAPITokens},
		{"Grants", testGrants},
		{"GrantCascades", testGrantCascades},
		{"Audit", testAudit},
		{"AuditPagination", testAuditPagination},
		{"Tenancy", testTenancy},
		{"OrgDelete", testOrgDelete},
		{"RemoteSessions", testRemoteSessions},
		{"SessionLimits", testSessionLimits},
		{"AttachTickets", testAttachTickets},
		{"HostKeys", testHostKeys},
		{"SessionSettings", testSessionSettings},
		{"ServiceRecord", testServiceRecord},
		{"Migrations", testMigrations},
		{"FileMode", testFileMode},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newURL)
		})
	}
}

// The overlay of most tests: .0 (network) and .1 (the engine) are reserved,
// so the first device gets .2.
var (
	testPrefix   = netip.MustParsePrefix("100.96.0.0/24")
	testReserved = []netip.Addr{netip.MustParseAddr("100.96.0.0"), netip.MustParseAddr("100.96.0.1")}
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// msNow is the current time as the store keeps it: UTC, millisecond precision.
func msNow() time.Time { return time.UnixMilli(time.Now().UnixMilli()).UTC() }

// newToken stores a token valid for an hour and returns its hash.
func newToken(t *testing.T, s *store.Store) []byte {
	t.Helper()
	h := hashOf(fmt.Sprintf("secret-%d-%s", time.Now().UnixNano(), randomHex(8)))
	if _, err := s.CreateEnrollToken(t.Context(), store.EnrollToken{Hash: h, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("CreateEnrollToken() = %v", err)
	}
	return h
}

// enrollReq is an enrollment in testPrefix with a fresh token hash.
func enrollReq(hash []byte, key, hostname string) store.EnrollRequest {
	return store.EnrollRequest{
		TokenHash: hash,
		Now:       msNow(),
		Prefix:    testPrefix,
		Reserved:  testReserved,
		Device:    store.Device{PublicKey: key, Hostname: hostname, OS: "linux", AgentVersion: "1.0.0"},
	}
}

// mustEnroll enrolls a device named name (explicitly) with a new token.
func mustEnroll(t *testing.T, s *store.Store, name string) store.Device {
	t.Helper()
	req := enrollReq(newToken(t, s), "key-"+name+"-"+randomHex(4), name)
	req.Device.Name, req.NameExplicit = name, true
	d, err := s.Enroll(t.Context(), req)
	if err != nil {
		t.Fatalf("Enroll(%s) = %v", name, err)
	}
	return d
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// wantErr checks that err matches target with errors.Is.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", what, err, target)
	}
}

// wantConflict checks that err is a *store.ConflictError on table.field.
func wantConflict(t *testing.T, what string, err error, table, field string) {
	t.Helper()
	var c *store.ConflictError
	if !errors.As(err, &c) || !errors.Is(err, store.ErrConflict) {
		t.Errorf("%s = %v, want ConflictError on %s.%s", what, err, table, field)
		return
	}
	if c.Table != table || c.Field != field {
		t.Errorf("%s = conflict on %s.%s, want %s.%s", what, c.Table, c.Field, table, field)
	}
}

// wantInvalid checks that err is a *store.InvalidError on field.
func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	var e *store.InvalidError
	if !errors.As(err, &e) || !errors.Is(err, store.ErrInvalid) {
		t.Errorf("%s = %v, want InvalidError on %s", what, err, field)
		return
	}
	if e.Field != field {
		t.Errorf("%s = invalid %s, want invalid %s", what, e.Field, field)
	}
}
