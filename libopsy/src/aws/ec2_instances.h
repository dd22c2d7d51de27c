// File: ec2_instances.h (private)
//
// The wire side of EC2 DescribeInstances, apart from the client class: how an input becomes
// requests (ids in chunks and without MaxResults, which EC2 refuses beside ids; otherwise one
// paginated query) and how a page's reservations flatten into one list of instances.
//
//   for (const QueryParams& p : describeInstancesRequests(in)) { ... appendInstances(page, out); }
#pragma once

#include <pugixml.hpp>

#include <cstddef>
#include <vector>

#include "aws/caller.h"
#include "opsy/aws/ec2.h"

namespace opsy::aws {

// Ids per DescribeInstances request. EC2 documents no limit for InstanceId.N, but it caps filter
// values at 200 a call and a request body this size stays far below any proxy's limit.
inline constexpr size_t kInstanceIdsPerRequest = 200;

// The first request of each DescribeInstances sequence (NextToken is added per page): one per
// chunk of distinct ids, each with every filter; or, without ids, one with MaxResults.
std::vector<QueryParams> describeInstancesRequests(const DescribeInstancesInput& input);

// Appends the instances of every reservation on one DescribeInstances page, in document order.
void appendInstances(const pugi::xml_node& page, std::vector<Instance>& out);

}  // namespace opsy::aws
