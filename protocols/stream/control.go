package stream

import "errors"

// Control types.
const (
	ControlState = "state" // a session or viewer state change; see State
	ControlError = "error" // a refused frame or request; see Code
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
)

// Control is a JSON frame for state changes and errors. Unknown fields are
// ignored on decode so either side can add fields without breaking the other.
type Control struct {
	Type    string `json:"type"`
	State   string `json:"state,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Role is the receiving viewer's role after a state change: "driver" or
	// "observer".
	Role string `json:"role,omitempty"`
	// Offset is the session's output end offset when the state changed.
	Offset uint64 `json:"offset,omitempty"`
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
