//! Pipeline expansion into Stages.
