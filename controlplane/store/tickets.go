package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Roles an attach ticket grants.
const (
	TicketDriver   = "driver"
	TicketObserver = "observer"
)

// AttachTicket is a single-use permission for one user to attach to one
// remote session in one role, until ExpiresAt. Only the SHA-256 of the
// ticket's secret is stored.
type AttachTicket struct {
	Hash      []byte // SHA-256 of the secret, 32 bytes
	SessionID string
	UserID    string
	Role      string // TicketDriver or TicketObserver
	ExpiresAt time.Time
}

// CreateAttachTicket stores a ticket and forgets the tickets that expired
// before now. Errors: ErrInvalid, ErrNotFound (no such session),
// ErrConflict (the hash exists).
func (s *Store) CreateAttachTicket(ctx context.Context, t AttachTicket, now time.Time) error {
	switch {
	case len(t.Hash) != sha256.Size:
		return invalid("hash", "must be a SHA-256 digest")
	case t.Role != TicketDriver && t.Role != TicketObserver:
		return invalid("role", "must be driver or observer")
	case t.UserID == "":
		return invalid("user_id", "must not be empty")
	case t.ExpiresAt.IsZero():
		return invalid("expires_at", "must be set")
	}
	err := s.inTx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `DELETE FROM attach_tickets WHERE expires_at < ?`, toMillis(now)); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO attach_tickets (ticket_hash, session_id, user_id, role, expires_at)
			VALUES (?, ?, ?, ?, ?)`, t.Hash, t.SessionID, t.UserID, t.Role, toMillis(t.ExpiresAt))
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("remote session %s: %w", t.SessionID, ErrNotFound)
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("creating attach ticket: %w", err)
	}
	return nil
}

// ErrTicketInvalid: the attach ticket is unknown, already used or expired.
// RedeemAttachTicket returns this exact value in all three cases.
var ErrTicketInvalid = errors.New("attach ticket invalid")

// RedeemAttachTicket consumes the ticket whose secret hashes to hash: one
// delete that returns the row, so that of any number of concurrent redeems
// exactly one gets it. An expired ticket is consumed too, and refused. The
// caller checks that the ticket is for the session and user at hand.
func (s *Store) RedeemAttachTicket(ctx context.Context, hash []byte, now time.Time) (AttachTicket, error) {
	if len(hash) != sha256.Size {
		return AttachTicket{}, ErrTicketInvalid
	}
	t := AttachTicket{Hash: hash}
	err := s.writer().queryRow(ctx, `DELETE FROM attach_tickets WHERE ticket_hash = ?
		RETURNING session_id, user_id, role, expires_at`, hash).
		Scan(&t.SessionID, &t.UserID, &t.Role, scanMillis{&t.ExpiresAt})
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return AttachTicket{}, ErrTicketInvalid
		}
		return AttachTicket{}, fmt.Errorf("redeeming attach ticket: %w", err)
	}
	if !now.Before(t.ExpiresAt) {
		return AttachTicket{}, ErrTicketInvalid
	}
	return t, nil
}
