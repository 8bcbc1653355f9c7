import type { PromptId } from "../domain/ivr.js";

/** What each IVR prompt says. The audio is made from these at set-up (espeak-ng); nothing is downloaded. */
export const PROMPT_TEXTS: Readonly<Record<PromptId, string>> = {
  "welcome-enter-id": "Welcome to the video conferencing service. Please enter your video conference I D, followed by the pound key.",
  "invalid-id-try-again": "That conference I D was not found. Please enter it again, followed by the pound key.",
  "no-entry-try-again": "We did not receive a conference I D. Please enter it now, followed by the pound key.",
  "meeting-unavailable-try-again":
    "That meeting has been cancelled or is no longer available. Please enter another conference I D, followed by the pound key.",
  "organizer-not-enabled-try-again":
    "The organizer of that meeting has not enabled video conferencing devices. Please enter another conference I D, followed by the pound key.",
  "unknown-organization": "The organization you dialed is not known to this service. Goodbye.",
  "not-consented": "This organization has not enabled video conferencing devices for its meetings. Goodbye.",
  "service-unavailable": "The service is not available right now. Please try again later. Goodbye.",
  goodbye: "Sorry, we could not find your meeting. Goodbye.",
  joining: "Thank you. Joining your meeting now.",
  "waiting-in-lobby": "Please wait. Someone in the meeting will let you in soon.",
  "not-admitted": "Nobody let you into the meeting. Goodbye.",
};
