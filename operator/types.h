// The tier resources as the operator sees them: the types of api/tiers.h under the
// operator's namespace, and the kube::Resource descriptors of the three kinds (which
// need kube/, so they stay out of api/).
#pragma once

#include <nlohmann/json.hpp>

#include "api/tiers.h"
#include "kube/client.h"

namespace orderguard::op {

using nlohmann::json;

using api::kApiVersion;
using api::kEngineMariaDb;
using api::kEngineMySql;
using api::kGroup;

using api::Autoscaling;
using api::CacheTier;
using api::CacheTierSpec;
using api::EnvVar;
using api::Failover;
using api::ObjectMeta;
using api::OrderService;
using api::OrderServiceSpec;
using api::ShardSet;
using api::ShardSetSpec;
using api::Zone;

using api::decode_cache_tier;
using api::decode_order_service;
using api::decode_shard_set;
using api::default_shard_image;
using api::default_table_columns;
using api::parse_cache_tier;
using api::parse_cache_tier_object;
using api::parse_order_service;
using api::parse_order_service_object;
using api::parse_shard_set;
using api::parse_shard_set_object;
using api::read_cache_tier;
using api::read_order_service;
using api::read_shard_set;
using api::spec_of;

const kube::Resource& order_services_resource();
const kube::Resource& cache_tiers_resource();
const kube::Resource& shard_sets_resource();

}  // namespace orderguard::op
