package secrets

import (
	"errors"
	"log/slog"
)

// Keyring holds the current KEK, which seals, and previous KEKs, which still
// open records during a rotation. It is immutable and safe for concurrent
// use; a rotation builds a new Keyring.
type Keyring struct {
	current *KEK
	byID    map[KEKID]*KEK
	ids     []KEKID // current first, for errors and logs
}

// NewKeyring returns a keyring that seals with current and opens records
// wrapped by current or by any of previous. Duplicates are ignored.
func NewKeyring(current *KEK, previous ...*KEK) (*Keyring, error) {
	if !current.usable() {
		return nil, errors.New("keyring: nil or zero current KEK")
	}
	r := &Keyring{current: current, byID: make(map[KEKID]*KEK)}
	for _, k := range append([]*KEK{current}, previous...) {
		if !k.usable() {
			return nil, errors.New("keyring: nil or zero previous KEK")
		}
		if _, dup := r.byID[k.id]; dup {
			continue
		}
		r.byID[k.id] = k
		r.ids = append(r.ids, k.id)
	}
	return r, nil
}

// Current returns the KEK that seals new records.
func (r *Keyring) Current() *KEK { return r.current }

// Lookup returns the KEK with the given ID, if the keyring holds it.
func (r *Keyring) Lookup(id KEKID) (*KEK, bool) {
	k, ok := r.byID[id]
	return k, ok
}

// Seal seals plaintext under the current KEK; see Seal.
func (r *Keyring) Seal(aad AAD, plaintext []byte) (Sealed, error) {
	return Seal(r.current, aad, plaintext)
}

// Open opens s with whichever KEK of the keyring wrapped it; see Open. A
// record wrapped by a KEK the keyring lacks gives a *WrongKEKError.
func (r *Keyring) Open(aad AAD, s Sealed) (Secret, error) {
	k, err := r.find(s)
	if err != nil {
		return nil, err
	}
	return Open(k, aad, s)
}

// Rewrap re-wraps s under the current KEK; see Rewrap. A record already
// wrapped by the current KEK is still verified, then returned as it is, so
// callers can skip writing it back when its KEKID did not change.
func (r *Keyring) Rewrap(aad AAD, s Sealed) (Sealed, error) {
	k, err := r.find(s)
	if err != nil {
		return Sealed{}, err
	}
	if k != r.current {
		return Rewrap(k, r.current, aad, s)
	}
	pt, err := Open(k, aad, s)
	if err != nil {
		return Sealed{}, err
	}
	clear(pt)
	return s, nil
}

func (r *Keyring) find(s Sealed) (*KEK, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	k, ok := r.byID[s.KEKID]
	if !ok {
		return nil, &WrongKEKError{Sealed: s.KEKID, Have: append([]KEKID(nil), r.ids...)}
	}
	return k, nil
}

// LogValue implements slog.LogValuer: a keyring logs as the IDs it holds.
func (r *Keyring) LogValue() slog.Value {
	if r == nil || r.current == nil {
		return slog.StringValue("<empty>")
	}
	prev := make([]string, 0, len(r.ids)-1)
	for _, id := range r.ids[1:] {
		prev = append(prev, id.String())
	}
	return slog.GroupValue(
		slog.String("current", r.current.id.String()),
		slog.Any("previous", prev),
	)
}

// Previous returns the keyring's KEKs other than the current one, oldest
// last, so a rotation can keep them for records not yet re-sealed.
func (r *Keyring) Previous() []*KEK {
	out := make([]*KEK, 0, len(r.ids))
	for _, id := range r.ids[1:] {
		out = append(out, r.byID[id])
	}
	return out
}
