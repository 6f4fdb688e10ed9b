package core

import (
	"context"
	"errors"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Answers of CheckMonitoredReceiverAssignmentStatus (docs/protocol.md, "Publisher: session, receiver and monitoring").
const (
	AssignedToYou         = "AssignedToYou"
	NotAssigned           = "NotAssigned"
	AssignedToSomeoneElse = "AssignedToSomeoneElse"
)

func (s *Service) isShared(serial string) bool { return s.shared[serial] }

// AssignmentStatus answers who holds serial, from the caller's view.
func (s *Service) AssignmentStatus(ctx context.Context, accountID, serial string) (string, error) {
	var status string
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		me, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		if me.Serial == serial {
			status = AssignedToYou
			return nil
		}
		if s.isShared(serial) {
			status = NotAssigned
			return nil
		}
		_, err = tx.AccountBySerial(serial)
		switch {
		case err == nil:
			status = AssignedToSomeoneElse
		case errors.Is(err, glucose.ErrNotFound):
			status = NotAssigned
		default:
			return err
		}
		return nil
	})
	return status, err
}

// ReplaceReceiver assigns serial to the account and returns the receiver id.
// Re-assigning the current serial changes nothing; the monitoring flag keeps
// its value across a replacement.
func (s *Service) ReplaceReceiver(ctx context.Context, accountID, serial string) (string, error) {
	var receiverID string
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		me, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		if me.Serial == serial {
			receiverID = me.ReceiverID
			return nil
		}
		receiverID = share.NewID()
		return s.assign(tx, accountID, serial, receiverID)
	})
	return receiverID, err
}

// assign gives serial to the account, failing with
// SerialNumberAssignedToSomeoneElse when another account holds it.
func (s *Service) assign(tx glucose.Tx, accountID, serial, receiverID string) error {
	err := tx.SetReceiver(accountID, serial, receiverID, !s.isShared(serial))
	if errors.Is(err, glucose.ErrConflict) {
		return glucose.Errorf(share.CodeSerialNumberAssignedToSomeoneElse,
			"Serial number %s is assigned to another account.", serial)
	}
	return err
}

// MonitoredReceiverIfEnabled returns the receiver id when a receiver is
// assigned and monitoring is on, else the zero id.
func (s *Service) MonitoredReceiverIfEnabled(acct *glucose.Account) string {
	if acct.HasReceiver() && acct.Monitoring {
		return acct.ReceiverID
	}
	return share.ZeroID
}

// StopMonitoringReceiver turns monitoring off and releases the receiver when
// receiverID is the current one.
func (s *Service) StopMonitoringReceiver(ctx context.Context, accountID, receiverID string) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		me, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		if !me.HasReceiver() || me.ReceiverID != receiverID {
			return glucose.Errorf(share.CodeMonitoredReceiverNotAssigned,
				"Monitored receiver %s is not assigned to this account.", receiverID)
		}
		if err := tx.SetMonitoring(accountID, false); err != nil {
			return err
		}
		return tx.SetReceiver(accountID, "", "", false)
	})
}

// StartMonitoring turns the monitoring flag on for serial, assigning it
// implicitly when the account has no receiver (docs/protocol.md, "Publisher: session, receiver and monitoring").
func (s *Service) StartMonitoring(ctx context.Context, accountID, serial string) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		me, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		switch {
		case me.Serial == serial:
		case me.HasReceiver():
			return glucose.Errorf(share.CodeMonitoredReceiverSerialNumberDoesNotMatch,
				"Serial number %s does not match the monitored receiver.", serial)
		case s.cfg.StrictReceiverAssignment:
			return notAssigned()
		default:
			err := s.assign(tx, accountID, serial, share.NewID())
			if glucose.ErrorCode(err) == share.CodeSerialNumberAssignedToSomeoneElse {
				return notAssigned()
			}
			if err != nil {
				return err
			}
		}
		if me.Monitoring {
			return nil
		}
		return tx.SetMonitoring(accountID, true)
	})
}

func notAssigned() *glucose.Error {
	return glucose.Errorf(share.CodeMonitoredReceiverNotAssigned,
		"No receiver is assigned to this account; assign one with ReplacePublisherAccountMonitoredReceiver.")
}

// StopMonitoring turns the monitoring flag off.
func (s *Service) StopMonitoring(ctx context.Context, accountID string) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.SetMonitoring(accountID, false) })
}
