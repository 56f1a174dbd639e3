package store

import "context"

// SetEnrollHook makes f run inside every enrollment transaction right
// before the device insert, with exec running SQL (? placeholders) in that
// transaction. It returns a function that removes the hook. Not safe to
// use while other enrollments run.
func SetEnrollHook(f func(ctx context.Context, exec func(query string, args ...any) error, d Device) error) (restore func()) {
	testHookBeforeInsert = func(ctx context.Context, c conn, d Device) error {
		return f(ctx, func(query string, args ...any) error {
			_, err := c.exec(ctx, query, args...)
			return err
		}, d)
	}
	return func() { testHookBeforeInsert = nil }
}
