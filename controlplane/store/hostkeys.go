package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// HostKey is the SSH host key the engine trusts for a service of a device:
// the fingerprint first seen (trust on first use) or accepted by an admin,
// and the one last offered instead, pending an admin's decision.
type HostKey struct {
	DeviceID    string
	Service     string // the service's name
	Fingerprint string // "SHA256:..." (ssh.FingerprintSHA256)
	FirstSeen   time.Time
	AcceptedBy  string // "" when trusted on first use; else the admin's user ID
	Pending     string // the fingerprint offered instead; "" if none
	PendingSeen time.Time
}

const hostKeyColumns = `device_id, service, fingerprint, first_seen, accepted_by, pending, pending_seen`

func scanHostKey(r scanner) (HostKey, error) {
	var k HostKey
	err := r.Scan(&k.DeviceID, &k.Service, &k.Fingerprint, scanMillis{&k.FirstSeen}, &k.AcceptedBy, &k.Pending,
		scanMillis{&k.PendingSeen})
	return k, err
}

// ValidFingerprint reports whether fp looks like ssh.FingerprintSHA256's
// output: "SHA256:" and unpadded base64, at most 128 bytes.
func ValidFingerprint(fp string) bool {
	rest, ok := strings.CutPrefix(fp, "SHA256:")
	if !ok || rest == "" || len(fp) > 128 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// GetHostKey returns the host key trusted for the device's service.
func (s *Store) GetHostKey(ctx context.Context, deviceID, service string) (HostKey, error) {
	k, err := scanHostKey(s.reader().queryRow(ctx,
		`SELECT `+hostKeyColumns+` FROM host_keys WHERE device_id = ? AND service = ?`, deviceID, service))
	if err != nil {
		return HostKey{}, wrap(err, "host key of "+service, "getting host key of "+service)
	}
	return k, nil
}

// TrustHostKeyOnFirstUse records fingerprint as the service's host key if
// none is recorded, and returns the key recorded (this one, or the one
// already there). Errors: ErrInvalid, ErrNotFound (no such device).
func (s *Store) TrustHostKeyOnFirstUse(ctx context.Context, deviceID, service, fingerprint string, at time.Time) (HostKey, error) {
	if !ValidFingerprint(fingerprint) {
		return HostKey{}, invalid("fingerprint", `must be "SHA256:<base64>"`)
	}
	_, err := s.writer().exec(ctx, `INSERT INTO host_keys (device_id, service, fingerprint, first_seen)
		VALUES (?, ?, ?, ?) ON CONFLICT (device_id, service) DO NOTHING`, deviceID, service, fingerprint, toMillis(at))
	if errors.Is(err, errForeignKey) {
		return HostKey{}, fmt.Errorf("device %s: %w", deviceID, ErrNotFound)
	}
	if err != nil {
		return HostKey{}, fmt.Errorf("recording host key of %s: %w", service, err)
	}
	return s.GetHostKey(ctx, deviceID, service)
}

// SetPendingHostKey records fingerprint as offered instead of the trusted
// key, for an admin to accept. The trusted key must exist (ErrNotFound).
func (s *Store) SetPendingHostKey(ctx context.Context, deviceID, service, fingerprint string, at time.Time) error {
	if !ValidFingerprint(fingerprint) {
		return invalid("fingerprint", `must be "SHA256:<base64>"`)
	}
	err := s.writer().execOne(ctx, `UPDATE host_keys SET pending = ?, pending_seen = ? WHERE device_id = ? AND service = ?`,
		fingerprint, toMillis(at), deviceID, service)
	return wrap(err, "host key of "+service, "recording pending host key of "+service)
}

// AcceptHostKey makes the pending fingerprint the trusted one, accepted by
// the user by. fingerprint must equal the pending one (the admin confirms
// what they saw): otherwise ErrInvalid. No key at all is ErrNotFound.
func (s *Store) AcceptHostKey(ctx context.Context, deviceID, service, fingerprint, by string, at time.Time) (HostKey, error) {
	var out HostKey
	err := s.inTx(ctx, func(c conn) error {
		k, err := scanHostKey(c.queryRow(ctx,
			`SELECT `+hostKeyColumns+` FROM host_keys WHERE device_id = ? AND service = ?`, deviceID, service))
		if err != nil {
			return wrap(err, "host key of "+service, "getting host key of "+service)
		}
		if k.Pending == "" || k.Pending != fingerprint {
			return invalid("fingerprint", "is not the fingerprint pending acceptance")
		}
		k.Fingerprint, k.FirstSeen, k.AcceptedBy, k.Pending, k.PendingSeen = fingerprint, fromMillis(toMillis(at)), by, "", time.Time{}
		_, err = c.exec(ctx, `UPDATE host_keys SET fingerprint = ?, first_seen = ?, accepted_by = ?, pending = '', pending_seen = 0
			WHERE device_id = ? AND service = ?`, k.Fingerprint, toMillis(k.FirstSeen), by, deviceID, service)
		out = k
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		return HostKey{}, err
	}
	if err != nil {
		return HostKey{}, fmt.Errorf("accepting host key of %s: %w", service, err)
	}
	return out, nil
}

// SetServiceRecord sets the recording policy of the device's service.
func (s *Store) SetServiceRecord(ctx context.Context, deviceID, name string, record bool) error {
	err := s.writer().execOne(ctx, `UPDATE services SET record = ? WHERE device_id = ? AND name = ?`, record, deviceID, name)
	return wrap(err, "service "+name, "setting recording policy of service "+name)
}
