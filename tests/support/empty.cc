// Keeps opsy_testsupport a valid library while a build has no other support sources.
namespace opsy::testing {
void supportLibraryAnchor() {}
}  // namespace opsy::testing
