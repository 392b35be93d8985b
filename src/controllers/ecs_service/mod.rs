//! ECSService controller.
