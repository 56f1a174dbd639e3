package stream

import "errors"

// Control types.
const (
	ControlState = "state" // a session or viewer state change; see State
	ControlError = "error" // a refused frame or request; see Code
	// ControlTakeover (viewer -> agent or engine) asks for the driver role;
	// the previous driver gets a state change with Role RoleObserver.
	ControlTakeover = "takeover"
)

// Viewer roles carried in Control.Role (strings on the wire; not to be
// confused with the Role type, which selects a ByteConn's direction).
const (
	RoleDriver   = "driver"   // may send Input and Resize
	RoleObserver = "observer" // read-only
)

// Session states carried by a Control of type ControlState.
const (
	StateAttached     = "attached"
	StateDetached     = "detached"
	StateAgentOffline = "agent_offline"
	StateEnded        = "ended"
)

// Stable error codes carried by a Control of type ControlError. Clients branch
// on them; Message is for humans and may change.
const (
	CodeNotDriver     = "not_driver"
	CodeFrameTooLarge = "frame_too_large"
	CodeBadFrame      = "bad_frame"
	CodeTicket        = "bad_ticket" // the attach ticket is unknown, used, expired or not yours
)

// Control is a JSON frame for state changes and errors. Unknown fields are
// ignored on decode so either side can add fields without breaking the other.
type Control struct {
	Type    string `json:"type"`
	State   string `json:"state,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Role is the receiving viewer's role after a state change: RoleDriver
	// or RoleObserver.
	Role string `json:"role,omitempty"`
	// Offset is the session's output end offset when the state changed.
	Offset uint64 `json:"offset,omitempty"`
	// Reason says why a state changed (for example why a session ended, or
	// "taken_over" when the driver role moved away); for humans and audit.
	Reason string `json:"reason,omitempty"`
}

// ErrorControl returns the Control frame that reports err to a peer, using a
// stable code for the decoding errors of this package and a generic message
// otherwise (internal error text never leaves the process).
func ErrorControl(err error) Control {
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		return Control{Type: ControlError, Code: CodeFrameTooLarge, Message: "frame too large"}
	case errors.Is(err, ErrBadFrame):
		return Control{Type: ControlError, Code: CodeBadFrame, Message: "malformed frame"}
	}
	return Control{Type: ControlError, Code: "internal", Message: "internal error"}
}
