package shareapi

// endpoints is the one route table (docs/protocol.md, "Endpoint overview"). Paths are matched
// case-insensitively under BasePath.
func (a *API) endpoints() []*endpoint {
	return []*endpoint{
		// General (docs/protocol.md, "General").
		{area: "General", name: "SystemUtcTime", get: true, noSession: true, fn: a.systemUTCTime},
		{area: "General", name: "LoginPublisherAccountByName", noSession: true, fn: a.loginByName},
		{area: "General", name: "AuthenticatePublisherAccount", noSession: true, fn: a.authenticate},
		{area: "General", name: "LoginPublisherAccountById", noSession: true, fn: a.loginByID},
		{area: "General", name: "LoginSubscriberAccount", noSession: true, fn: a.loginSubscriber},
		{area: "General", name: "CreateNamedValue", fn: a.createNamedValue},
		{area: "General", name: "ReadNamedValue", get: true, fn: a.readNamedValue},
		{area: "General", name: "ListValueNames", get: true, fn: a.listValueNames},
		{area: "General", name: "UpdateNamedValue", fn: a.updateNamedValue},
		{area: "General", name: "DeleteAllNamedValues", fn: a.deleteAllNamedValues},

		// Publisher: session, receiver, monitoring (docs/protocol.md, "Publisher: session, receiver and monitoring").
		{area: "Publisher", name: "LogoutPublisherAccount", noSession: true, fn: a.logout},
		{area: "Publisher", name: "ChangePublisherAccountPassword", fn: a.changePassword},
		{area: "Publisher", name: "CheckMonitoredReceiverAssignmentStatus", fn: a.checkAssignment},
		{area: "Publisher", name: "ReplacePublisherAccountMonitoredReceiver", fn: a.replaceReceiver},
		{area: "Publisher", name: "GetMonitoredReceiverIdIfEnabled", fn: a.receiverIfEnabled},
		{area: "Publisher", name: "StopMonitoringReceiver", fn: a.stopMonitoringReceiver},
		{area: "Publisher", name: "IsRemoteMonitoringSessionActive", fn: a.isMonitoring},
		{area: "Publisher", name: "StartRemoteMonitoringSession", fn: a.startMonitoring},
		{area: "Publisher", name: "StopRemoteMonitoringSession", fn: a.stopMonitoring},
		{area: "Publisher", name: "UpdatePublisherAccountRuntimeInfo", fn: a.publisherRuntimeInfo},

		// Publisher: glucose (docs/protocol.md, "Publisher: glucose").
		{area: "Publisher", name: "PostReceiverEgvRecords", bodyLimit: largeBodyLimit, fn: a.postEGVs},
		{area: "Publisher", name: "ReadPublisherLatestGlucoseValues", fn: a.readPublisherLatest},

		// Publisher: profile (docs/protocol.md, "Publisher: profile").
		{area: "Publisher", name: "ReadPublisherAccountDisplayName", fn: a.readDisplayName},
		{area: "Publisher", name: "UpdatePublisherAccountDisplayName", fn: a.updateDisplayName},
		{area: "Publisher", name: "ReadPublisherAccountEmail", fn: a.readEmail},
		{area: "Publisher", name: "UpdatePublisherAccountEmail", fn: a.updateEmail},
		{area: "Publisher", name: "ReadPublisherAccountImage", get: true, fn: a.readImage},
		{area: "Publisher", name: "UpdatePublisherAccountImage", bodyLimit: largeBodyLimit, fn: a.updateImage},

		// Publisher: contacts and followers (docs/protocol.md, "Publisher: contacts and followers").
		{area: "Publisher", name: "DoesContactExistByName", fn: a.contactExists},
		{area: "Publisher", name: "CreateContact", fn: a.createContact},
		{area: "Publisher", name: "ReadContact", fn: a.readContact},
		{area: "Publisher", name: "UpdateContactName", fn: a.updateContactName},
		{area: "Publisher", name: "DeleteContact", fn: a.deleteContact},
		{area: "Publisher", name: "CreateSubscriptionInvitation", fn: a.createInvitation},
		{area: "Publisher", name: "ReadSubscriptionInviteId", fn: a.readInviteID},
		{area: "Publisher", name: "ListPublisherAccountSubscriptions", fn: a.listPublisherSubscriptions},
		{area: "Publisher", name: "UpdateSubscriptionPermissions", fn: a.updatePermissions},

		// General: a subscription's alerts, pause and resume (docs/protocol.md, "General").
		{area: "General", name: "ReadSubscriptionAlerts", fn: a.readSubscriptionAlerts},
		{area: "General", name: "PauseSubscription", fn: a.pauseSubscription},
		{area: "General", name: "ResumeSubscription", fn: a.resumeSubscription},

		// Subscriber (docs/protocol.md, "Subscriber").
		{area: "Subscriber", name: "ListSubscriberAccountSubscriptions", fn: a.listSubscriberSubscriptions},
		{area: "Subscriber", name: "ReadSubscriptionLatestGlucoseValues", fn: a.readSubscriptionLatest},
		{area: "Subscriber", name: "ReadLastGlucoseFromSubscriptions", fn: a.readLastGlucose},
		{area: "Subscriber", name: "ReadInvitation", fn: a.readInvitation},
		{area: "Subscriber", name: "AcceptInvitation", fn: a.acceptInvitation},
		{area: "Subscriber", name: "RejectInvitation", fn: a.rejectInvitation},
		{area: "Subscriber", name: "DeleteSubscription", fn: a.deleteSubscription},
		{area: "Subscriber", name: "ReadSubscriptionDisplayName", fn: a.readSubscriptionDisplayName},
		{area: "Subscriber", name: "ReadSubscriptionImage", get: true, fn: a.readSubscriptionImage},
		{area: "Subscriber", name: "ReadSubscriptionAlertSettings", fn: a.readSubscriptionAlertSettings},
		{area: "Subscriber", name: "UpdateSubscriptionAlertSettings", fn: a.updateSubscriptionAlertSettings},
		{area: "Subscriber", name: "UpdateSubscriberAccountRuntimeInfo", fn: a.subscriberRuntimeInfo},

		// Subscriber: alarms (docs/protocol.md, "Subscriber", "Alerts and alarms").
		{area: "Subscriber", name: "ListSubscriptionAlarms", fn: a.listAlarms},
		{area: "Subscriber", name: "AcknowledgeSubscriptionAlarm", fn: a.acknowledgeAlarm},
	}
}
