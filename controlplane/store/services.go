package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Protocol says how the engine talks to a service.
type Protocol string

// The protocols a service can have.
const (
	ProtocolTCP  Protocol = "tcp"
	ProtocolSSH  Protocol = "ssh"
	ProtocolRDP  Protocol = "rdp"
	ProtocolVNC  Protocol = "vnc"
	ProtocolHTTP Protocol = "http"
	ProtocolHost Protocol = "host" // the agent machine's own screen
)

// Protocols lists every valid Protocol (for help texts and UIs).
var Protocols = []Protocol{ProtocolTCP, ProtocolSSH, ProtocolRDP, ProtocolVNC, ProtocolHTTP, ProtocolHost}

// Service is a port on a device's /32 that the agent forwards to Target.
type Service struct {
	ID       string // generated ("svc_...") if empty on create
	DeviceID string
	Name     string // unique per device
	Protocol Protocol
	Port     int    // port on the device's /32, unique per device
	Target   string // host:port the agent dials; "" on create means 127.0.0.1:<Port>
	// Record is the service's recording policy: the engine records every
	// terminal session opened to it.
	Record    bool
	CreatedAt time.Time
}

// maxNameLen bounds service names.
const maxNameLen = 63

// ValidateService checks a service as CreateService would, before any
// default is applied (so an empty Target is valid). Errors are
// *InvalidError, matching ErrInvalid.
func ValidateService(s Service) error {
	if err := validateName(s.Name); err != nil {
		return err
	}
	if !validProtocol(s.Protocol) {
		return invalid("protocol", "must be one of tcp, ssh, rdp, vnc, http, host")
	}
	if s.Port < 1 || s.Port > 65535 {
		return invalid("port", "must be between 1 and 65535")
	}
	if s.Target != "" && !validHostPort(s.Target) {
		return invalid("target", "must be host:port with a port between 1 and 65535")
	}
	return nil
}

func validateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return invalid("name", fmt.Sprintf("must be 1 to %d characters", maxNameLen))
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return invalid("name", "may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

func validProtocol(p Protocol) bool {
	switch p {
	case ProtocolTCP, ProtocolSSH, ProtocolRDP, ProtocolVNC, ProtocolHTTP, ProtocolHost:
		return true
	}
	return false
}

// validHostPort reports whether s is host:port with a non-empty host and a
// numeric port in 1..65535.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	return validPort(port)
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == port
}

const serviceColumns = `id, device_id, name, protocol, port, target, record, created_at`

func scanService(r scanner) (Service, error) {
	var s Service
	err := r.Scan(&s.ID, &s.DeviceID, &s.Name, &s.Protocol, &s.Port, &s.Target, &s.Record, scanMillis{&s.CreatedAt})
	return s, err
}

// CreateService adds a service to a device. Errors: ErrInvalid, ErrNotFound
// (no such device), ErrConflict (name or port already used on the device).
func (s *Store) CreateService(ctx context.Context, svc Service) (Service, error) {
	if err := ValidateService(svc); err != nil {
		return Service{}, err
	}
	if svc.Target == "" {
		svc.Target = net.JoinHostPort("127.0.0.1", strconv.Itoa(svc.Port))
	}
	svc.ID = orNewID(svc.ID, prefixService)
	svc.CreatedAt = fromMillis(toMillis(now()))
	_, err := s.writer().exec(ctx, `
		INSERT INTO services (`+serviceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		svc.ID, svc.DeviceID, svc.Name, string(svc.Protocol), svc.Port, svc.Target, svc.Record, toMillis(svc.CreatedAt))
	if errors.Is(err, errForeignKey) {
		return Service{}, fmt.Errorf("device %s: %w", svc.DeviceID, ErrNotFound)
	}
	if err != nil {
		return Service{}, fmt.Errorf("creating service %s on device %s: %w", svc.Name, svc.DeviceID, err)
	}
	return svc, nil
}

// GetService returns the device's service with the given name.
func (s *Store) GetService(ctx context.Context, deviceID, name string) (Service, error) {
	row := s.reader().queryRow(ctx, `SELECT `+serviceColumns+` FROM services WHERE device_id = ? AND name = ?`,
		deviceID, name)
	svc, err := scanService(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Service{}, fmt.Errorf("service %s on device %s: %w", name, deviceID, ErrNotFound)
	}
	if err != nil {
		return Service{}, fmt.Errorf("getting service %s on device %s: %w", name, deviceID, err)
	}
	return svc, nil
}

// ListServices returns the device's services ordered by name. An unknown
// device has none.
func (s *Store) ListServices(ctx context.Context, deviceID string) ([]Service, error) {
	return s.listServices(ctx, `SELECT `+serviceColumns+` FROM services WHERE device_id = ? ORDER BY name`, deviceID)
}

// ListAllServices returns every service ordered by device ID and name.
func (s *Store) ListAllServices(ctx context.Context) ([]Service, error) {
	return s.listServices(ctx, `SELECT `+serviceColumns+` FROM services ORDER BY device_id, name`)
}

func (s *Store) listServices(ctx context.Context, query string, args ...any) ([]Service, error) {
	rows, err := s.reader().query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	defer rows.Close()
	var ss []Service
	for rows.Next() {
		svc, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("listing services: %w", err)
		}
		ss = append(ss, svc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	return ss, nil
}

// DeleteService deletes the device's service with the given name and its
// publishes.
func (s *Store) DeleteService(ctx context.Context, deviceID, name string) error {
	err := s.writer().execOne(ctx, `DELETE FROM services WHERE device_id = ? AND name = ?`, deviceID, name)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("service %s on device %s: %w", name, deviceID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("deleting service %s on device %s: %w", name, deviceID, err)
	}
	return nil
}

// UpdateService changes the device's service with the given ID in place:
// its name, protocol, port, target and recording flag (an empty Target
// means 127.0.0.1:<Port>). Its ID stays, so its credentials, gateway ports
// and sessions stay with it; a trusted host key follows a rename. Errors:
// ErrInvalid, ErrNotFound (no such service on the device), ErrConflict
// (name or port already used on the device).
func (s *Store) UpdateService(ctx context.Context, deviceID, id string, svc Service) (Service, error) {
	svc.ID, svc.DeviceID = id, deviceID
	if err := ValidateService(svc); err != nil {
		return Service{}, err
	}
	if svc.Target == "" {
		svc.Target = net.JoinHostPort("127.0.0.1", strconv.Itoa(svc.Port))
	}
	err := s.inTx(ctx, func(c conn) error {
		old, err := scanService(c.queryRow(ctx, `SELECT `+serviceColumns+` FROM services WHERE device_id = ? AND id = ?`,
			deviceID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		svc.CreatedAt = old.CreatedAt
		if err := c.execOne(ctx, `UPDATE services SET name = ?, protocol = ?, port = ?, target = ?, record = ?
			WHERE device_id = ? AND id = ?`,
			svc.Name, string(svc.Protocol), svc.Port, svc.Target, svc.Record, deviceID, id); err != nil {
			return err
		}
		if old.Name != svc.Name {
			_, err = c.exec(ctx, `UPDATE host_keys SET service = ? WHERE device_id = ? AND service = ?`,
				svc.Name, deviceID, old.Name)
		}
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Service{}, fmt.Errorf("service %s on device %s: %w", id, deviceID, ErrNotFound)
	}
	if err != nil {
		return Service{}, fmt.Errorf("updating service %s on device %s: %w", id, deviceID, err)
	}
	return svc, nil
}
