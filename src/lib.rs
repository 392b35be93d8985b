//! ecs-operator: runs Amazon ECS task definitions, services and Cloud Map discovery from
//! Kubernetes custom resources.

pub mod api;
pub mod aws;
pub mod controllers;
pub mod runtime;
