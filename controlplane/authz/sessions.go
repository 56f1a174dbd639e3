package authz

import (
	"context"
	"fmt"

	"github.com/warrenhq/warren/acl"
)

// Session tuples (session:S#owner@user:U, session:S#observer@user:U or
// @group:G#member) belong to the session broker: no database row mirrors
// them, Sync leaves them alone, and they reach no port ACL, so writing them
// needs no recompile.

// SessionOwner writes the tuple that makes userID the owner of the remote
// session (who may drive it and share it).
func (s *Service) SessionOwner(ctx context.Context, sessionID, userID string) error {
	return s.writeSession(ctx, []acl.Tuple{{User: acl.User(userID), Relation: acl.RelationOwner,
		Object: acl.Object(acl.TypeSession, sessionID)}}, nil)
}

// ShareSession makes subject (acl.User(id) or acl.GroupMembers(id)) an
// observer of the session; UnshareSession takes that back. The caller checks
// that subject belongs to the session's organization.
func (s *Service) ShareSession(ctx context.Context, sessionID, subject string) error {
	return s.writeSession(ctx, []acl.Tuple{observer(sessionID, subject)}, nil)
}

// UnshareSession removes subject's observer tuple on the session.
func (s *Service) UnshareSession(ctx context.Context, sessionID, subject string) error {
	return s.writeSession(ctx, nil, []acl.Tuple{observer(sessionID, subject)})
}

// SessionObservers returns the subjects (acl.User or acl.GroupMembers
// strings) that observe the session.
func (s *Service) SessionObservers(ctx context.Context, sessionID string) ([]string, error) {
	ts, err := s.fga.Read(ctx, acl.Tuple{Relation: acl.RelationObserver, Object: acl.Object(acl.TypeSession, sessionID)})
	if err != nil {
		return nil, fmt.Errorf("reading observers of session %s: %w", sessionID, err)
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.User)
	}
	return out, nil
}

// ForgetSession removes every tuple on the session (it is gone for good).
func (s *Service) ForgetSession(ctx context.Context, sessionID string) error {
	ts, err := s.fga.Read(ctx, acl.Tuple{Object: acl.Object(acl.TypeSession, sessionID)})
	if err != nil {
		return fmt.Errorf("reading tuples of session %s: %w", sessionID, err)
	}
	return s.writeSession(ctx, nil, ts)
}

func observer(sessionID, subject string) acl.Tuple {
	return acl.Tuple{User: subject, Relation: acl.RelationObserver, Object: acl.Object(acl.TypeSession, sessionID)}
}

// writeSession writes tuples that must all be on session objects.
func (s *Service) writeSession(ctx context.Context, writes, deletes []acl.Tuple) error {
	for _, t := range append(append([]acl.Tuple{}, writes...), deletes...) {
		if typ, _, _, ok := acl.Split(t.Object); !ok || typ != acl.TypeSession {
			return fmt.Errorf("writing session tuples: %s is not on a session", t)
		}
	}
	for _, b := range batches(deletes) {
		if err := s.fga.Write(ctx, nil, b); err != nil {
			return fmt.Errorf("deleting session tuples: %w", err)
		}
	}
	for _, b := range batches(writes) {
		if err := s.fga.Write(ctx, b, nil); err != nil {
			return fmt.Errorf("writing session tuples: %w", err)
		}
	}
	return nil
}
